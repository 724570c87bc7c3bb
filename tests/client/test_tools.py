"""tool_from_function schemas, docstring parsing, and loading tools by module and by path."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Any, Literal, Optional

import pytest
from tests.client import example_tools

from qwenchat.client import ClientError, load_tool, load_tools, tool_from_function
from qwenchat.client._tools import call_tool, parse_docstring


class Color(enum.Enum):
    RED = 1
    BLUE = 2


def everything(text: str, count: int, ratio: float, flag: bool, names: list[str],
               table: dict[str, int], loose: dict, choice: Literal["a", "b"],  # type: ignore[type-arg]
               color: Color, maybe: Optional[int], either: int | str, anything: Any,  # noqa: UP045
               untyped, fallback: str = "x", numbers: tuple[int, ...] = (1,),  # type: ignore[no-untyped-def]
               *args: int, **kwargs: str) -> None:
    """Exercise every supported type."""


def test_schema_from_type_hints() -> None:
    tool = tool_from_function(everything)
    assert tool["type"] == "function"
    function = tool["function"]
    assert function["name"] == "everything"
    assert function["description"] == "Exercise every supported type."
    parameters = function["parameters"]
    assert parameters["type"] == "object"
    assert parameters["required"] == ["text", "count", "ratio", "flag", "names", "table",
                                      "loose", "choice", "color", "maybe", "either",
                                      "anything", "untyped"]
    assert parameters["properties"] == {
        "text": {"type": "string"}, "count": {"type": "integer"},
        "ratio": {"type": "number"}, "flag": {"type": "boolean"},
        "names": {"type": "array", "items": {"type": "string"}},
        "table": {"type": "object", "additionalProperties": {"type": "integer"}},
        "loose": {"type": "object"},
        "choice": {"type": "string", "enum": ["a", "b"]},
        "color": {"type": "integer", "enum": [1, 2]},
        "maybe": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
        "either": {"anyOf": [{"type": "integer"}, {"type": "string"}]},
        "anything": {}, "untyped": {},
        "fallback": {"type": "string", "default": "x"},
        "numbers": {"type": "array", "items": {"type": "integer"}, "default": [1]},
    }


def test_google_style_docstring() -> None:
    function = tool_from_function(example_tools.get_weather)["function"]
    assert function["description"] == "Current weather of a city."
    assert function["parameters"] == {
        "type": "object", "required": ["city"],
        "properties": {
            "city": {"type": "string", "description": "The city's name, in English."},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"],
                     "description": "The temperature unit.", "default": "celsius"}}}


def test_sphinx_style_docstring() -> None:
    function = tool_from_function(example_tools.add)["function"]
    assert function["description"] == "Add two numbers."
    properties = function["parameters"]["properties"]
    assert properties["a"] == {"type": "integer", "description": "the first number"}
    assert properties["b"] == {"type": "integer", "description": "the second number",
                               "default": 1}
    assert function["parameters"]["required"] == ["a"]


def test_docstring_description_keeps_paragraphs_and_stops_at_sections() -> None:
    doc = "Summary line\ncontinued.\n\nMore detail.\n\nReturns:\n    nothing\n"
    assert parse_docstring(doc) == ("Summary line continued.\n\nMore detail.", {})


def test_unsupported_types_and_names_are_usage_errors() -> None:
    def bad(value: complex) -> None:
        """Complex numbers have no JSON type."""

    def search(query: str) -> None:
        """DashScope reserves this name."""

    for fn in (bad, search):
        with pytest.raises(ClientError) as caught:
            tool_from_function(fn)
        assert caught.value.exit_code == 2


def test_call_tool_turns_enum_values_into_members() -> None:
    result = call_tool(example_tools.get_weather, {"city": "Oslo", "unit": "fahrenheit"})
    assert result["temperature"] == 70


def test_load_tool_from_a_module() -> None:
    assert load_tool("tests.client.example_tools:add") is example_tools.add


def test_load_tool_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "my tools.py"
    path.write_text("def shout(text: str) -> str:\n    '''Upper-case.'''\n"
                    "    return text.upper()\n")
    shout = load_tool(f"{path}:shout")
    assert shout("hi") == "HI"
    assert tool_from_function(shout)["function"]["description"] == "Upper-case."


def test_load_tools_takes_the_public_functions() -> None:
    names = [fn.__name__ for fn in load_tools("tests/client/example_tools.py")]
    assert names == ["get_weather", "add", "explode"]
    assert load_tools("tests.client.example_tools:add") == [example_tools.add]


@pytest.mark.parametrize("spec", [
    "no_colon", "tests.client.example_tools:missing", "qwenchat_nowhere:fn",
    "missing/file.py:fn", "tests.client.example_tools:CALLS", ":fn"])
def test_load_tool_failures_are_usage_errors(spec: str) -> None:
    with pytest.raises(ClientError) as caught:
        load_tool(spec)
    assert caught.value.exit_code == 2


def test_load_tool_reports_a_broken_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.py"
    path.write_text("raise ValueError('nope')\n")
    with pytest.raises(ClientError, match="ValueError: nope"):
        load_tool(f"{path}:fn")
