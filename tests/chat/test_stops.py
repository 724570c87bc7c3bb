"""Stop strings are found however the text is split, and never released."""

from __future__ import annotations

import pytest

from qwenchat.chat import StopMatcher

TEXT = "The capital of France is Paris. It is lovely."


def feed_split(stops: list[str], pieces: list[str]) -> tuple[str, bool]:
    matcher = StopMatcher(stops)
    out = "".join(matcher.feed(piece) for piece in pieces)
    return out + matcher.flush(), matcher.is_stopped


@pytest.mark.parametrize("stops", [["Paris"], ["is Paris."], ["s P"], ["zzz", "Paris", "lovely"]])
def test_every_split_point_gives_the_same_result(stops: list[str]) -> None:
    expected = TEXT[: min(TEXT.index(s) for s in stops if s in TEXT)]
    for cut in range(len(TEXT) + 1):
        assert feed_split(stops, [TEXT[:cut], TEXT[cut:]]) == (expected, True)
    assert feed_split(stops, list(TEXT)) == (expected, True)


def test_text_without_a_match_is_released_whole() -> None:
    assert feed_split(["Paris!"], list(TEXT)) == (TEXT, False)
    assert feed_split([], [TEXT]) == (TEXT, False)


def test_a_possible_start_of_a_stop_is_held_back_until_resolved() -> None:
    matcher = StopMatcher(["Paris"])
    assert matcher.feed("is Pa") == "is "
    assert matcher.feed("cific") == "Pacific"
    assert not matcher.is_stopped


def test_nothing_is_released_after_a_match() -> None:
    matcher = StopMatcher(["."])
    assert matcher.feed("Hi. there") == "Hi"
    assert matcher.feed(" more") == ""
    assert matcher.flush() == ""
