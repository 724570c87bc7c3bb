"""Which cached prefixes a prompt may reuse, and the host-memory store of evicted ones.

Pure bookkeeping (the engine moves the actual KV bytes). A *holder* — a slot's cache or a
:class:`StoredPrefix` in host memory — holds ``tokens``, of which the first ``exact`` were
computed by prompt prefill. Tokens decoded one by one during generation get KV values that
differ from a prefill's in the last bits (llama.cpp's kernels take another path for a single
row), so in ``exact`` mode only the prefilled part is reused and a warm answer is
bit-for-bit the cold one; ``full`` mode reuses generated tokens too (a conversation's next
turn re-reads nothing, but its answer may drift from a cold run's).

The :class:`HostStore` keeps evicted slot contents within a token budget, least recently
used out first, so more conversations stay warm than there are slots.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum


class ReuseMode(str, Enum):
    """How much of a cached prefix a new prompt may reuse."""

    EXACT = "exact"  # prefilled tokens only: outputs identical to a cold run
    FULL = "full"  # generated tokens too: less to re-read, outputs may drift
    OFF = "off"  # nothing: every prompt is read whole


_ids = itertools.count(1)


@dataclass(eq=False)
class StoredPrefix:
    """A slot's KV cache saved in host memory (the engine keeps the bytes under ``id``)."""

    tokens: list[int]
    exact: int
    last_used: int
    id: int = field(default_factory=lambda: next(_ids))


class HostStore:
    """Saved prefixes within ``budget`` tokens; the least recently used leave first."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.entries: list[StoredPrefix] = []

    @property
    def num_tokens(self) -> int:
        return sum(len(entry.tokens) for entry in self.entries)

    def covers(self, tokens: Sequence[int]) -> bool:
        """Whether an entry already holds ``tokens`` (or more after them)."""
        return any(_common_prefix(entry.tokens, tokens, len(tokens)) == len(tokens)
                   for entry in self.entries)

    def add(self, tokens: list[int], exact: int, tick: int) -> tuple[StoredPrefix,
                                                                     list[StoredPrefix]]:
        """Store ``tokens``; returns the new entry and the entries evicted to make room
        (entries that are a prefix of the new one go too: it serves them all)."""
        entry = StoredPrefix(tokens, exact, tick)
        dropped = [old for old in self.entries
                   if _common_prefix(old.tokens, tokens, len(old.tokens)) == len(old.tokens)]
        kept = [old for old in self.entries if old not in dropped]
        kept.sort(key=lambda old: old.last_used)
        total = sum(len(old.tokens) for old in kept) + len(tokens)
        while kept and total > self.budget:
            oldest = kept.pop(0)
            dropped.append(oldest)
            total -= len(oldest.tokens)
        self.entries = [*kept, entry]
        return entry, dropped


def usable_prefix(tokens: Sequence[int], exact: int, prompt: Sequence[int], limit: int,
                  mode: ReuseMode) -> int:
    """How many leading tokens of ``prompt`` a holder of ``tokens`` can serve."""
    if mode is ReuseMode.OFF:
        return 0
    cap = min(limit, exact) if mode is ReuseMode.EXACT else limit
    return _common_prefix(tokens, prompt, cap)


def reuse_limit(prompt: Sequence[int]) -> int:
    """At most this many prompt tokens come from a cache: at least two are prefilled.

    The last prompt token must be decoded for its logits, and a one-token prefill takes
    llama.cpp's single-row path, whose numbers differ from a multi-row prefill's.
    """
    return max(0, len(prompt) - 2)


def _common_prefix(cached: Sequence[int], prompt: Sequence[int], limit: int) -> int:
    """How many leading tokens ``cached`` and ``prompt`` share, at most ``limit``."""
    length = min(len(cached), len(prompt), limit)
    for i in range(length):
        if cached[i] != prompt[i]:
            return i
    return length
