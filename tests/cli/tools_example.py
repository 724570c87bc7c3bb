"""A real Python tool for the `qwenchat chat --tool` tests."""

from __future__ import annotations


def get_weather(city: str) -> str:
    """Tell the current weather in a city.

    Args:
        city: the city's name, e.g. Paris.
    """
    return f"Sunny and 21 degrees in {city}."


def _not_a_tool() -> None:
    """Private functions are not offered by --tools-file."""
