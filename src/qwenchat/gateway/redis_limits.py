"""``RedisLimits``: the limit store shared by several gateways through one Redis.

Each check-and-charge is one Lua script, which Redis runs atomically: however many
gateways ask at once, a limit of ``L`` admits exactly ``L``. The script does the
arithmetic of :mod:`qwenchat.gateway.windows` in milliseconds on Redis's own clock
(``TIME``), so gateways on machines with skewed clocks agree. A window counter is a hash
``slot -> amount`` that expires after its longest window; a quota counter is a plain
integer. A quota counter that is missing (never seeded, or Redis restarted empty) makes the
admission answer ``Unseeded`` without charging anything, so the gateway reseeds it from the
ledger instead of counting from zero.
"""

from __future__ import annotations

from collections.abc import Sequence

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from qwenchat.errors import ModelUnavailable
from qwenchat.gateway.limits import Admission, Dimension, Refusal, Rule, Unseeded, refusal
from qwenchat.gateway.windows import MINUTE, SLOT_SECONDS

_PREFIX = "qwenchat:limits:"
_SLOT_MS = round(SLOT_SECONDS * 1000)
_HORIZON_MS = round(MINUTE * 1000)

# KEYS: the distinct counters. ARGV: slot_ms, horizon_ms, tokens, number of rules, then per
# rule: key index, "r" or "t", limit, window ms (0: a quota). Returns {0, slot} when admitted
# (and charged in that slot), {-1, rule number} for a quota counter that does not exist, else
# a flat list of (rule number, wait ms or -1 for never) for each refusing rule.
_ADMIT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local slot_ms, horizon, tokens = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local nrules = tonumber(ARGV[4])
local slot = math.floor(now / slot_ms)
local cache = {}
local function slots_of(i)
  if cache[i] then return cache[i] end
  local flat = redis.call('HGETALL', KEYS[i])
  local list = {}
  for j = 1, #flat, 2 do
    local s = tonumber(flat[j])
    if (s + 1) * slot_ms + horizon <= now then
      redis.call('HDEL', KEYS[i], flat[j])
    else
      table.insert(list, {s, tonumber(flat[j + 1])})
    end
  end
  table.sort(list, function(a, b) return a[1] < b[1] end)
  cache[i] = list
  return list
end
for r = 1, nrules do
  local b = 4 + (r - 1) * 4
  if tonumber(ARGV[b + 4]) == 0 and redis.call('EXISTS', KEYS[tonumber(ARGV[b + 1])]) == 0 then
    return {-1, r}
  end
end
local failed = {}
for r = 1, nrules do
  local b = 4 + (r - 1) * 4
  local i, limit, window = tonumber(ARGV[b + 1]), tonumber(ARGV[b + 3]), tonumber(ARGV[b + 4])
  if window == 0 then
    if tonumber(redis.call('GET', KEYS[i]) or '0') >= limit then
      table.insert(failed, r); table.insert(failed, -1)
    end
  else
    local inside, used = {}, 0
    for _, e in ipairs(slots_of(i)) do
      if (e[1] + 1) * slot_ms + window > now then
        table.insert(inside, e); used = used + e[2]
      end
    end
    if used >= limit then
      local wait = 0
      for _, e in ipairs(inside) do
        used = used - e[2]
        if used < limit then wait = (e[1] + 1) * slot_ms + window - now; break end
      end
      table.insert(failed, r); table.insert(failed, wait)
    end
  end
end
if #failed > 0 then return failed end
local charged = {}
for r = 1, nrules do
  local b = 4 + (r - 1) * 4
  local i = tonumber(ARGV[b + 1])
  if not charged[i] then
    charged[i] = true
    local amount = tokens
    if ARGV[b + 2] == 'r' then amount = 1 end
    if tonumber(ARGV[b + 4]) == 0 then
      redis.call('INCRBY', KEYS[i], amount)
    elseif amount > 0 then
      redis.call('HINCRBY', KEYS[i], slot, amount)
      redis.call('PEXPIRE', KEYS[i], horizon + slot_ms)
    end
  end
end
return {0, slot}
"""

# KEYS: token counters; ARGV: slot_ms, horizon_ms, tokens, then per key 1 (quota) or 0. A
# missing quota counter is left missing: the next admission reseeds it from the ledger.
_CHARGE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local slot_ms, horizon, tokens = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local slot = math.floor(now / slot_ms)
for i = 1, #KEYS do
  if ARGV[3 + i] == '1' then
    if redis.call('EXISTS', KEYS[i]) == 1 then redis.call('INCRBY', KEYS[i], tokens) end
  else
    redis.call('HINCRBY', KEYS[i], slot, tokens)
    redis.call('PEXPIRE', KEYS[i], horizon + slot_ms)
  end
end
return 0
"""

# KEYS: counters; ARGV: slot, then per key: kind (1 quota, 0 window) and amount. Takes each
# amount back out (a quota only if it exists, a window only from a slot it still holds).
_RELEASE = """
local slot = ARGV[1]
for i = 1, #KEYS do
  local quota, amount = ARGV[2 * i], tonumber(ARGV[2 * i + 1])
  if quota == '1' then
    local used = tonumber(redis.call('GET', KEYS[i]) or '-1')
    if used >= 0 then redis.call('SET', KEYS[i], math.max(0, used - amount)) end
  elseif redis.call('HEXISTS', KEYS[i], slot) == 1 then
    if redis.call('HINCRBY', KEYS[i], slot, -amount) <= 0 then
      redis.call('HDEL', KEYS[i], slot)
    end
  end
end
return 0
"""


class RedisLimits:
    """Counters in Redis: exact across every gateway that shares it."""

    def __init__(self, url: str) -> None:
        # a Redis that stops answering fails requests within a second, not a TCP timeout
        self._redis = aioredis.Redis.from_url(url, socket_connect_timeout=1.0,
                                              socket_timeout=1.0)
        self._admit = self._redis.register_script(_ADMIT)
        self._charge = self._redis.register_script(_CHARGE)
        self._release = self._redis.register_script(_RELEASE)

    async def admit(self, rules: Sequence[Rule],
                    tokens: int) -> Admission | Refusal | Unseeded:
        counters = list(dict.fromkeys(rule.counter for rule in rules))
        args: list[int | str] = [_SLOT_MS, _HORIZON_MS, tokens, len(rules)]
        for rule in rules:
            args += [counters.index(rule.counter) + 1,
                     "r" if rule.dimension is Dimension.REQUESTS else "t", rule.limit,
                     0 if rule.window is None else round(rule.window * 1000)]
        result = await self._call(self._admit, [_PREFIX + c for c in counters], args)
        if int(result[0]) == 0:
            return Admission(int(result[1]), tokens)
        if int(result[0]) < 0:
            return Unseeded(rules[int(result[1]) - 1].counter)
        pairs = zip(result[::2], result[1::2], strict=True)
        return refusal([(rules[int(r) - 1], None if int(w) < 0 else int(w) / 1000)
                        for r, w in pairs])

    async def charge(self, rules: Sequence[Rule], tokens: int) -> None:
        counters = {rule.counter: rule.window is None for rule in rules
                    if rule.dimension is Dimension.TOKENS}
        if counters and tokens:
            args = [_SLOT_MS, _HORIZON_MS, tokens, *("1" if q else "0" for q in counters.values())]
            await self._call(self._charge, [_PREFIX + c for c in counters], args)

    async def release(self, rules: Sequence[Rule], admission: Admission, *,
                      requests: int, tokens: int) -> None:
        keys: list[str] = []
        args: list[int | str] = [admission.slot]
        for rule in rules:
            amount = requests if rule.dimension is Dimension.REQUESTS else tokens
            if amount > 0 and _PREFIX + rule.counter not in keys:
                keys.append(_PREFIX + rule.counter)
                args += ["1" if rule.window is None else "0", amount]
        if keys:
            await self._call(self._release, keys, args)

    async def has_quota(self, counter: str) -> bool:
        try:
            return bool(await self._redis.exists(_PREFIX + counter))
        except RedisError as exc:
            raise _unavailable(exc) from exc

    async def seed_quota(self, counter: str, used: int) -> None:
        try:
            await self._redis.set(_PREFIX + counter, used, nx=True)
        except RedisError as exc:
            raise _unavailable(exc) from exc

    async def close(self) -> None:
        await self._redis.aclose()

    async def _call(self, script: object, keys: list[str],
                    args: Sequence[int | str]) -> list[int]:
        try:
            result = await script(keys=keys, args=list(args))  # type: ignore[operator]
        except RedisError as exc:
            raise _unavailable(exc) from exc
        return list(result) if isinstance(result, list) else []


def _unavailable(exc: RedisError) -> ModelUnavailable:
    return ModelUnavailable(f"The rate-limit store is unreachable ({type(exc).__name__}).")
