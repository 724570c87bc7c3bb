"""Sliding-window counters: the pure core of the rate limits (no I/O, time passed in).

An amount (one request, or some tokens) is recorded in the 100 ms slot of the moment it
happened. A window of ``W`` seconds at time ``now`` holds every slot whose *end* is less
than ``W`` ago, so an amount leaves the window at most one slot later than its exact time,
never earlier: the limit is never exceeded, and memory per counter is bounded by the
longest window (600 slots for a minute) whatever the traffic.

A limit ``L`` admits a request while the window holds *less than* ``L``: for requests
(amount 1) exactly ``L`` per window; for tokens, the request that crosses ``L`` is still
served (its size is not known in full beforehand) and the next one waits.
:meth:`SlotCounter.retry_after` says when that wait ends: the moment enough of the oldest
slots have left the window. :meth:`SlotCounter.remove` takes an amount back out of the
slot it was recorded in (a reservation settled for less), so the counter then holds what
was really used, at the moment it was admitted. The Redis store runs the same arithmetic
in a Lua script.
"""

from __future__ import annotations

import math
from collections import deque

SLOT_SECONDS = 0.1
MINUTE = 60.0
SECOND = 1.0


def slot_of(now: float) -> int:
    """The slot index holding time ``now``."""
    return math.floor(now / SLOT_SECONDS)


def slot_expiry(slot: int, window: float) -> float:
    """When an amount recorded in ``slot`` leaves a window of ``window`` seconds."""
    return (slot + 1) * SLOT_SECONDS + window


def per_second(per_minute: int) -> int:
    """DashScope's per-second share of a per-minute limit (at least 1)."""
    return max(1, math.ceil(per_minute / 60))


class SlotCounter:
    """Amounts by 100 ms slot over the last ``horizon`` seconds."""

    def __init__(self, horizon: float = MINUTE) -> None:
        self._horizon = horizon
        self._slots: deque[list[int]] = deque()  # [slot, amount], oldest first

    def add(self, amount: int, now: float) -> None:
        """Record ``amount`` at ``now``."""
        self._forget(now)
        slot = slot_of(now)
        if self._slots and self._slots[-1][0] == slot:
            self._slots[-1][1] += amount
        else:
            self._slots.append([slot, amount])

    def remove(self, amount: int, slot: int) -> None:
        """Take up to ``amount`` back out of ``slot`` (a charge settled for less); nothing
        if the slot has left the horizon."""
        for entry in self._slots:
            if entry[0] == slot:
                entry[1] = max(0, entry[1] - amount)
                return

    def used(self, window: float, now: float) -> int:
        """The amount inside the trailing ``window`` seconds at ``now``."""
        self._forget(now)
        return sum(amount for slot, amount in self._slots if slot_expiry(slot, window) > now)

    def retry_after(self, window: float, limit: int, now: float) -> float:
        """Seconds until the window holds less than ``limit`` (0 if it already does)."""
        inside = [(slot, amount) for slot, amount in self._slots
                  if slot_expiry(slot, window) > now]
        remaining = sum(amount for _, amount in inside)
        for slot, amount in inside:
            if remaining < limit:
                break
            remaining -= amount
            expiry = slot_expiry(slot, window)
            wait = expiry - now
            while now + wait < expiry:  # float rounding: waiting ``wait`` must reach the expiry
                wait = math.nextafter(wait, math.inf)
            if remaining < limit:
                return wait
        return 0.0

    @property
    def is_empty(self) -> bool:
        return not self._slots

    def _forget(self, now: float) -> None:
        while self._slots and slot_expiry(self._slots[0][0], self._horizon) <= now:
            self._slots.popleft()
