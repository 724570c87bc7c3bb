"""Real Python tools the client tests load by module name and by file path."""

from __future__ import annotations

import enum
from typing import Literal


class Unit(enum.Enum):
    """Temperature units."""

    CELSIUS = "celsius"
    FAHRENHEIT = "fahrenheit"


CALLS: list[tuple[str, dict[str, object]]] = []


def get_weather(city: str, unit: Unit = Unit.CELSIUS) -> dict[str, object]:
    """Current weather of a city.

    Args:
        city: The city's name,
            in English.
        unit: The temperature unit.
    """
    CALLS.append(("get_weather", {"city": city, "unit": unit}))
    degrees = 21 if unit is Unit.CELSIUS else 70
    return {"city": city, "temperature": degrees, "unit": unit.value, "sky": "sunny"}


def add(a: int, b: int = 1, mode: Literal["sum", "concat"] = "sum") -> str:
    """Add two numbers.

    :param a: the first number
    :param int b: the second number
    :returns: the result as text
    """
    return str(a + b) if mode == "sum" else f"{a}{b}"


def explode(reason: str) -> str:
    """Always fails."""
    raise RuntimeError(f"boom: {reason}")


def _private() -> None:
    """Not a tool."""
