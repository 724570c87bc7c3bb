"""The order of a benchmark's runs: these machines drift ±15% over minutes, so what is
compared alternates within each round, in an order rotated every round."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TypeVar

T = TypeVar("T")


def rotated(items: Sequence[T], shift: int) -> list[T]:
    """``items`` started ``shift`` places later (each round runs them in another order)."""
    shift %= max(1, len(items))
    return [*items[shift:], *items[:shift]]


def schedule(rounds: int, *lineups: Sequence[T]) -> Iterator[tuple[int, int, T]]:
    """(round, lineup, item) for every item of every lineup once per round: in each round
    the lineups in order, each one's items rotated by the round number."""
    for round_no in range(rounds):
        for lineup_no, lineup in enumerate(lineups):
            for item in rotated(lineup, round_no):
                yield round_no, lineup_no, item
