"""SlotCounter: 100 ms slots, trailing windows, exact retry_after, bounded memory."""

from __future__ import annotations

import copy
import math
import random

import pytest

from qwenchat.gateway.windows import (
    MINUTE,
    SECOND,
    SlotCounter,
    per_second,
    slot_expiry,
    slot_of,
)


def counter_with(*amounts: tuple[int, float]) -> SlotCounter:
    """A counter holding each ``(amount, at)``."""
    counter = SlotCounter()
    for amount, at in amounts:
        counter.add(amount, at)
    return counter


def used_at(amounts: list[tuple[int, float]], window: float, now: float) -> int:
    """What a fresh counter says at ``now`` of the ``amounts`` up to then (asking forgets old
    slots, so each question gets its own counter)."""
    return counter_with(*(a for a in amounts if a[1] <= now)).used(window, now)


def test_used_sums_the_amounts_inside_each_window() -> None:
    amounts = [(1, 100.05), (2, 100.55), (4, 130.25)]
    assert used_at(amounts, SECOND, 100.95) == 3
    assert used_at(amounts, MINUTE, 100.95) == 3
    assert used_at(amounts, SECOND, 101.05) == 3  # the first slot ends at 100.1: in until 101.1
    assert used_at(amounts, SECOND, 101.15) == 2
    assert used_at(amounts, SECOND, 101.65) == 0
    assert used_at(amounts, MINUTE, 101.65) == 3
    assert used_at(amounts, SECOND, 130.3) == 4
    assert used_at(amounts, MINUTE, 130.3) == 7
    assert used_at(amounts, MINUTE, 160.15) == 6
    assert used_at(amounts, MINUTE, 160.65) == 4
    assert used_at(amounts, MINUTE, 190.35) == 0


def test_amounts_in_one_slot_add_up() -> None:
    counter = counter_with((1, 5.01), (2, 5.05), (3, 5.09))
    assert counter.used(SECOND, 5.09) == 6
    assert counter.used(SECOND, 6.09) == 6
    assert counter.used(SECOND, 6.11) == 0  # all three leave together, at the slot's end + 1 s


@pytest.mark.parametrize("window", [SECOND, MINUTE])
def test_an_amount_leaves_at_its_slot_end_plus_the_window_never_earlier(window: float) -> None:
    rng = random.Random(7)
    for _ in range(200):
        at = rng.uniform(0.0, 10_000.0)
        leaves = (math.floor(at * 10) + 1) / 10 + window
        assert at + window <= leaves <= at + window + 0.1 + 1e-9
        assert used_at([(1, at)], window, at) == 1
        assert used_at([(1, at)], window, at + window - 1e-6) == 1
        assert used_at([(1, at)], window, leaves - 1e-6) == 1
        assert used_at([(1, at)], window, leaves + 1e-6) == 0


def test_slot_expiry_is_the_end_of_the_slot_plus_the_window() -> None:
    assert slot_expiry(10, SECOND) == pytest.approx(2.1)
    assert slot_expiry(10, MINUTE) == pytest.approx(61.1)


@pytest.mark.parametrize(("per_minute", "expected"),
                         [(1, 1), (5, 1), (60, 1), (61, 2), (120, 2), (600, 10), (6000, 100)])
def test_per_second_is_the_rounded_up_sixtieth_and_at_least_one(per_minute: int,
                                                                expected: int) -> None:
    assert per_second(per_minute) == expected


def test_retry_after_is_zero_while_the_window_holds_less_than_the_limit() -> None:
    counter = counter_with((2, 10.0))
    assert counter.retry_after(SECOND, 3, 10.0) == 0.0
    counter.add(1, 10.5)
    assert counter.retry_after(SECOND, 3, 10.5) > 0.0


def test_retry_after_waits_for_as_many_old_slots_as_needed() -> None:
    counter = counter_with((1, 10.05), (1, 10.35), (3, 10.75))
    # 5 in the window, limit 4: the first two slots must both leave (at 10.4 + 1).
    assert counter.retry_after(SECOND, 4, 10.8) == pytest.approx(11.4 - 10.8)
    # limit 3: all three (at 10.8 + 1); limit 5: only the first (at 10.1 + 1).
    assert counter.retry_after(SECOND, 3, 10.8) == pytest.approx(1.0)
    assert counter.retry_after(SECOND, 5, 10.8) == pytest.approx(11.1 - 10.8)


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("start", [0.0, 1000.0, 86_400.123])
def test_retry_after_is_exact_over_random_traffic(seed: int, start: float) -> None:
    """After waiting ``retry_after`` the window holds less than the limit; a bit before, not."""
    rng = random.Random(seed)
    counter = SlotCounter()
    now = start
    num_waits = 0
    for _ in range(300):
        now += rng.choice([0.0, 0.01, 0.04, 0.1, 0.25, 0.7, 1.3, 5.0, 17.0])
        counter.add(rng.randint(1, 4), now)
        for window, limit in ((SECOND, 3), (MINUTE, 25)):
            wait = counter.retry_after(window, limit, now)
            if counter.used(window, now) < limit:
                assert wait == 0.0
                continue
            num_waits += 1
            assert 0.0 < wait <= window + 0.1 + 1e-9
            # Probe copies: asking at a later time forgets slots the sequence still needs.
            assert copy.deepcopy(counter).used(window, now + wait) < limit
            assert copy.deepcopy(counter).used(window, now + wait - 1e-6) >= limit
    assert num_waits > 50  # the traffic did hit the limits


def test_old_slots_are_forgotten_so_memory_stays_bounded() -> None:
    counter = SlotCounter()
    now = 0.0
    for step in range(12_000):  # ten minutes, one amount every 50 ms
        now = step * 0.05
        counter.add(1, now)
    # Two amounts per slot; the oldest slot inside may start up to 100 ms over the minute.
    assert 1200 <= counter.used(MINUTE, now) <= 1202
    # At most one minute of 100 ms slots (and the current one) is kept.
    assert len(counter._slots) <= 601
    assert not counter.is_empty
    assert counter.used(MINUTE, now + 60.2) == 0
    assert counter.is_empty


def test_remove_takes_an_amount_back_out_of_its_own_slot_never_below_zero() -> None:
    counter = counter_with((100, 10.05), (7, 10.55))
    counter.remove(60, slot_of(10.05))                 # a reservation settled for 40
    assert counter.used(MINUTE, 10.6) == 47
    assert counter.used(SECOND, 11.12) == 7            # the 40 left with their slot
    counter.remove(500, slot_of(10.55))
    assert counter.used(MINUTE, 10.6) == 40
    counter.remove(5, slot_of(3.0))                    # a slot it does not hold: nothing
    assert counter.used(MINUTE, 10.6) == 40
