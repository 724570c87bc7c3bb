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
    grammar = answer_grammar(request(grammar='root ::= "x"'), TOOLS)
    assert grammar is not None and 'start: "x"' in grammar.text
    assert grammar.param == "grammar"


@pytest.mark.parametrize("gbnf", ["root ::= [", 'root ::= "a" ('])
def test_unreadable_gbnf_is_a_400(gbnf: str) -> None:
    with pytest.raises(InvalidParameter, match="grammar could not be parsed") as caught:
        answer_grammar(request(grammar=gbnf), ())
    assert caught.value.param == "grammar"


def test_forced_calls_name_their_tools() -> None:
    def text(**fields: object) -> str:
        grammar = answer_grammar(request(tools=TOOLS, **fields), TOOLS)
        assert grammar is not None and grammar.param == "tools"
        return grammar.text

    required = text(tool_choice=ToolChoice("required"))
    named = text(tool_choice=ToolChoice("function", "b"))
    assert '{"const":"a"}' in required and '{"const":"b"}' in required
    assert '{"const":"b"}' in named and '{"const":"a"}' not in named
    parallel = text(tool_choice=ToolChoice("required"), parallel_tool_calls=True)
    assert '("\\n" tool_call)*' in parallel
    assert '("\\n" tool_call)*' not in required


def test_json_formats_name_response_format() -> None:
    fmt = ResponseFormat("json_schema", "r", {"type": "object"})
    grammar = answer_grammar(request(response_format=fmt), ())
    assert grammar is not None and grammar.what == "json_schema"
    assert grammar.param == "response_format"
