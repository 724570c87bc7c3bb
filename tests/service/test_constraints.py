"""Which grammar constrains a request's answer."""

from __future__ import annotations

import pytest

from qwenchat.core import ChatRequest, Message, ResponseFormat, Role, ToolChoice, ToolSpec
from qwenchat.errors import InvalidParameter
from qwenchat.service.constraints import answer_grammar

USER = (Message(Role.USER, "Hi, json please"),)
TOOLS = (ToolSpec("a", None, {"type": "object"}), ToolSpec("b", None, {"type": "object"}))


def request(**fields: object) -> ChatRequest:
    return ChatRequest(model="qwen-plus", messages=USER, **fields)  # type: ignore[arg-type]


def test_free_answers_have_no_grammar() -> None:
    assert answer_grammar(request(), ()) is None
    assert answer_grammar(request(tools=TOOLS), TOOLS) is None  # auto


def test_raw_grammar_wins() -> None:
    assert answer_grammar(request(grammar='root ::= "x"'), TOOLS) == 'root ::= "x"'


def test_forced_calls_name_their_tools() -> None:
    required = answer_grammar(request(tools=TOOLS, tool_choice=ToolChoice("required")), TOOLS)
    named = answer_grammar(request(tools=TOOLS, tool_choice=ToolChoice("function", "b")), TOOLS)
    assert required is not None and '\\"a\\"' in required and '\\"b\\"' in required
    assert named is not None and '\\"b\\"' in named and '\\"a\\"' not in named
    parallel = answer_grammar(request(tools=TOOLS, tool_choice=ToolChoice("required"),
                                      parallel_tool_calls=True), TOOLS)
    assert parallel is not None and '("\\n" tool-call)*' in parallel


@pytest.mark.parametrize("schema", [{"type": "bogus"}, {"allOf": 5},
                                    {"properties": {"a": {"$ref": "#/definitions/x"}}}])
def test_a_schema_the_converter_cannot_express_is_a_400(schema: dict[str, object]) -> None:
    fmt = ResponseFormat("json_schema", "r", schema)
    with pytest.raises(InvalidParameter, match="json_schema cannot be enforced"):
        answer_grammar(request(response_format=fmt), ())
