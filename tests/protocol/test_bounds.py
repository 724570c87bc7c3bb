"""Tests of protocol._bounds: every size, count and depth a client controls is refused over
its stated bound with a 400 naming the field, and accepted at the bound."""

from __future__ import annotations

import json
from typing import Any

import pytest

from qwenchat.errors import InvalidBody, InvalidParameter
from qwenchat.protocol import parse_chat_request
from qwenchat.protocol._bounds import (
    MAX_CONTENT_PARTS,
    MAX_GRAMMAR_BYTES,
    MAX_GRAMMAR_NESTING,
    MAX_JSON_DEPTH,
    MAX_LOGIT_BIAS,
    MAX_MESSAGES,
    MAX_MODEL_ID,
    MAX_SCHEMA_BYTES,
    MAX_SCHEMA_DEPTH,
    MAX_STOP,
    MAX_STOP_CHARS,
    MAX_STOP_TOKENS,
    MAX_TOOL_NAME,
    MAX_TOOLS,
    MAX_TRANSLATION_PAIRS,
    grammar_nesting,
    json_depth,
)

USER = {"role": "user", "content": "hi"}


def parse(**fields: Any) -> None:
    data: dict[str, Any] = {"model": "qwen-plus", "messages": [USER]}
    data.update(fields)
    parse_chat_request(json.dumps(data).encode())


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


def schema(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"type": "string"}
    while json_depth(value) < depth:
        value = {"type": "array", "items": value}
    return value


def tool(name: str = "f", parameters: Any = None) -> dict[str, Any]:
    return {"type": "function",
            "function": {"name": name, "parameters": parameters or {"type": "object"}}}


def test_json_depth_counts_containers_without_recursion() -> None:
    assert json_depth(1) == 0 and json_depth([]) == 1 and json_depth({"a": [1]}) == 2
    assert json_depth(nested(100_000)) == MAX_JSON_DEPTH + 1  # walking stops past the bound


def test_a_body_nested_deeper_than_the_bound_is_invalid() -> None:
    for depth in (MAX_JSON_DEPTH, 50_000):
        deep = ("[" * depth + "]" * depth).encode()
        body = b'{"model":"qwen-plus","messages":[{"role":"user","content":"hi"}],"x":' + deep
        with pytest.raises(InvalidBody, match="may nest at most 64 levels"):
            parse_chat_request(body + b"}")
    parse(x=nested(MAX_JSON_DEPTH - 2))  # within the bound: accepted (and ignored)


# (fields within the bound, fields over it, param named by the 400)
CASES: list[tuple[dict[str, Any], dict[str, Any], str]] = [
    ({"model": "m" * MAX_MODEL_ID}, {"model": "m" * (MAX_MODEL_ID + 1)}, "model"),
    ({"messages": [USER] * MAX_MESSAGES}, {"messages": [USER] * (MAX_MESSAGES + 1)},
     "messages"),
    ({"messages": [{"role": "user", "content": [{"type": "text", "text": "a"}]
                    * MAX_CONTENT_PARTS}]},
     {"messages": [{"role": "user", "content": [{"type": "text", "text": "a"}]
                    * (MAX_CONTENT_PARTS + 1)}]}, "messages[0].content"),
    ({"stop": ["x"] * MAX_STOP}, {"stop": ["x"] * (MAX_STOP + 1)}, "stop"),
    ({"stop": "x" * MAX_STOP_CHARS}, {"stop": "x" * (MAX_STOP_CHARS + 1)}, "stop"),
    ({"stop": ["a", "x" * MAX_STOP_CHARS]}, {"stop": ["a", "x" * (MAX_STOP_CHARS + 1)]},
     "stop[1]"),
    ({"stop": [[1] * MAX_STOP_TOKENS]}, {"stop": [[1] * (MAX_STOP_TOKENS + 1)]}, "stop[0]"),
    ({"tools": [tool(f"f{i}") for i in range(MAX_TOOLS)]},
     {"tools": [tool(f"f{i}") for i in range(MAX_TOOLS + 1)]}, "tools"),
    ({"tools": [tool("f" * MAX_TOOL_NAME)]}, {"tools": [tool("f" * (MAX_TOOL_NAME + 1))]},
     "tools[0].function.name"),
    ({"tools": [tool(parameters=schema(MAX_SCHEMA_DEPTH))]},
     {"tools": [tool(parameters=schema(MAX_SCHEMA_DEPTH + 1))]},
     "tools[0].function.parameters"),
    ({"response_format": {"type": "json_schema",
                          "json_schema": {"name": "r", "schema": schema(MAX_SCHEMA_DEPTH)}}},
     {"response_format": {"type": "json_schema",
                          "json_schema": {"name": "r", "schema": schema(MAX_SCHEMA_DEPTH + 1)}}},
     "response_format.json_schema.schema"),
    ({"response_format": {"type": "json_schema", "json_schema": {
        "name": "r", "schema": {"enum": ["x" * (MAX_SCHEMA_BYTES - 20)]}}}},
     {"response_format": {"type": "json_schema", "json_schema": {
         "name": "r", "schema": {"enum": ["x" * MAX_SCHEMA_BYTES]}}}},
     "response_format.json_schema.schema"),
    ({"logit_bias": {str(i): 1 for i in range(MAX_LOGIT_BIAS)}},
     {"logit_bias": {str(i): 1 for i in range(MAX_LOGIT_BIAS + 1)}}, "logit_bias"),
    ({"logit_bias": {"2147483647": 1}}, {"logit_bias": {"9" * 5000: 1}}, "logit_bias"),
    ({"logit_bias": {"2147483647": 1}}, {"logit_bias": {"2147483648": 1}}, "logit_bias"),
    ({"stop": [[2**31 - 1]]}, {"stop": [[2**31]]}, "stop"),
    ({"grammar": 'root ::= "' + "a" * (MAX_GRAMMAR_BYTES - 20) + '"'},
     {"grammar": 'root ::= "' + "a" * MAX_GRAMMAR_BYTES + '"'}, "grammar"),
    ({"grammar": "root ::= " + "(" * MAX_GRAMMAR_NESTING + '"a"' + ")" * MAX_GRAMMAR_NESTING},
     {"grammar": "root ::= " + "(" * 50_000 + '"a"' + ")" * 50_000}, "grammar"),
    ({"model": "qwen-mt-plus", "translation_options": {
        "target_lang": "English", "terms": [{"source": "a", "target": "b"}]
        * MAX_TRANSLATION_PAIRS}},
     {"model": "qwen-mt-plus", "translation_options": {
         "target_lang": "English", "terms": [{"source": "a", "target": "b"}]
         * (MAX_TRANSLATION_PAIRS + 1)}}, "translation_options"),
]


@pytest.mark.parametrize(("within", "over", "param"), CASES,
                         ids=[f"{param}-{i}" for i, (_, _, param) in enumerate(CASES)])
def test_each_bound_accepts_its_limit_and_refuses_one_more(
        within: dict[str, Any], over: dict[str, Any], param: str) -> None:
    parse(**within)
    with pytest.raises(InvalidParameter) as caught:
        parse(**over)
    assert caught.value.param == param
    assert caught.value.status == 400


def test_the_stop_list_of_the_issue_is_refused_before_it_costs_anything() -> None:
    with pytest.raises(InvalidParameter, match="at most 4"):
        parse(stop=[f"s{i}" for i in range(50_000)])


def test_grammar_nesting_skips_strings_classes_and_comments() -> None:
    assert grammar_nesting('root ::= ("a" ("b"))') == 2
    assert grammar_nesting('root ::= "((((" [(((] # ((((\n') == 0
    assert grammar_nesting('root ::= "\\"(" ("x")') == 1
