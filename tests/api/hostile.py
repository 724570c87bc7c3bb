"""Hypothesis strategies for hostile chat requests, and the check every answer must pass.

Shared by the fuzz tests (a bounded sample in CI) and ``bench/fuzz.py`` (the long run).
Bodies are built from the request model's fields — each field given a value that is valid,
out of range, of the wrong type, huge or deeply nested — plus hostile JSON schemas, GBNF
grammars, token ids and raw bytes that are not JSON at all. Generation is kept short
(``max_tokens`` is small unless it is the field under attack), so a sample is fast.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
from hypothesis import strategies as st

USER = {"role": "user", "content": "Say hi in json."}
MODELS = ["qwen-plus", "qwen3.6-plus", "qwq-plus", "qwen-mt-plus", "qwen-turbo", "nope", ""]

_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=40),
    st.sampled_from([0, 1, -1, 2**31, 2**63, 1e308, -1e308, 5e-324, "", "0", "\u0000",
                     "\ud7ff", "a" * 5000]),
)
json_values = st.recursive(
    _scalars,
    lambda children: st.one_of(st.lists(children, max_size=5),
                               st.dictionaries(st.text(max_size=8), children, max_size=5)),
    max_leaves=20,
)


def _schema(children: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.one_of(
        st.fixed_dictionaries({"type": st.just("object"),
                               "properties": st.dictionaries(st.text(max_size=6), children,
                                                             max_size=4)},
                              optional={"required": st.lists(st.text(max_size=6), max_size=3),
                                        "additionalProperties": st.booleans()}),
        st.fixed_dictionaries({"type": st.just("array"), "items": children},
                              optional={"minItems": st.integers(-1, 10**6),
                                        "maxItems": st.integers(-1, 10**9)}),
        st.fixed_dictionaries({"anyOf": st.lists(children, min_size=1, max_size=3)}),
    )


_leaf_schemas = st.one_of(
    st.fixed_dictionaries({"type": st.sampled_from(
        ["string", "integer", "number", "boolean", "null", "bogus", "object"])},
        optional={"maxLength": st.integers(-1, 10**12), "minLength": st.integers(-1, 10**6),
                  "pattern": st.sampled_from(["^a+$", "(a|b)*c{100000}", "[", "(?=x)",
                                              "\\p{L}{0,999999}"]),
                  "enum": st.lists(json_values, max_size=4), "format": st.text(max_size=8),
                  "minimum": st.integers(), "maximum": st.integers()}),
    st.sampled_from([{"$ref": "#/definitions/missing"}, {"$ref": "#"}, {"allOf": 5},
                     {"not": {}}, {}, {"type": ["string", "null"]}, {"const": {"a": 1}}]),
)
schemas = st.recursive(_leaf_schemas, _schema, max_leaves=12)

_gbnf_pieces = st.sampled_from([
    '"a"', '" Paris"', '"\\u0000"', '"\\x00"', "[a-z]", "[^a]", "[\\x00-\\x7f]", "x", "root",
    "(", ")", "|", "*", "+", "?", "{1,100000}", "{0,3}", '"<tool_call>"', "[", "::=", "\n",
])
grammars = st.one_of(
    st.lists(_gbnf_pieces, min_size=1, max_size=12).map(lambda p: "root ::= " + " ".join(p)),
    st.sampled_from(['root ::= root "a"', "root ::= x\nx ::= x", 'root ::= "a"{1,1000000}',
                     'root ::= ("a" | "b"){100000}', "root ::= " + "(" * 5000 + '"a"'
                     + ")" * 5000, 'root ::= "\\u0000"', "", "root ::= []"]),
    st.text(max_size=60),
)
token_ids = st.one_of(st.integers(min_value=-5, max_value=2**40),
                      st.sampled_from([0, 2, 49151, 49152, 151935, 151936, 99_999_999]))
stops = st.one_of(
    st.text(max_size=10), st.lists(st.text(max_size=6), max_size=6),
    st.lists(st.lists(token_ids, min_size=1, max_size=3), min_size=1, max_size=5),
    st.lists(st.one_of(st.text(max_size=3), st.lists(token_ids, max_size=2)), max_size=3),
    st.just([f"s{i}" for i in range(5000)]), json_values,
)
tools = st.lists(st.fixed_dictionaries(
    {"type": st.sampled_from(["function", "function", "code"]),
     "function": st.fixed_dictionaries(
         {"name": st.sampled_from(["f", "search", "", "g" * 100, "get_weather"])},
         optional={"parameters": schemas, "description": st.text(max_size=20)})}),
    max_size=3)

# each field of the request model with the values that attack it
FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "model": st.one_of(st.sampled_from(MODELS), st.text(max_size=300)),
    "messages": st.one_of(
        st.lists(st.fixed_dictionaries(
            {"role": st.sampled_from(["user", "assistant", "system", "tool", "x"]),
             "content": st.one_of(st.text(max_size=40), json_values,
                                  st.lists(st.fixed_dictionaries(
                                      {"type": st.sampled_from(["text", "image_url"]),
                                       "text": json_values}), max_size=3))},
            optional={"tool_calls": json_values, "tool_call_id": json_values,
                      "partial": json_values, "reasoning_content": json_values}),
            max_size=4),
        json_values),
    "stream": json_values, "stream_options": json_values,
    "temperature": json_values, "top_p": json_values, "top_k": json_values,
    "presence_penalty": json_values, "frequency_penalty": json_values,
    "repetition_penalty": st.one_of(json_values, st.sampled_from([1e-30, 1e30, 1e308])),
    "max_tokens": st.one_of(st.sampled_from([-5, 0, 2**63, "x", 1.5, None, 1]),
                            st.integers(-3, 6)),
    "max_completion_tokens": st.one_of(st.sampled_from([-5, 0, 2**63, "x", None]),
                                       st.integers(-3, 6)),
    "n": json_values, "seed": json_values, "stop": stops,
    "logprobs": json_values, "top_logprobs": json_values,
    "logit_bias": st.one_of(
        st.dictionaries(st.one_of(token_ids.map(str), st.text(max_size=5),
                                  st.just("9" * 5000)),
                        st.one_of(st.floats(-200, 200), json_values), max_size=5),
        json_values),
    "tools": st.one_of(tools, json_values),
    "tool_choice": st.one_of(st.sampled_from(["auto", "none", "required", "x"]), json_values,
                             st.just({"type": "function", "function": {"name": "f"}})),
    "parallel_tool_calls": json_values,
    "response_format": st.one_of(
        st.fixed_dictionaries({"type": st.just("json_schema"), "json_schema":
                               st.fixed_dictionaries({"name": st.just("r"),
                                                      "schema": schemas})}),
        st.fixed_dictionaries({"type": st.sampled_from(["json_object", "text", "xml"])}),
        json_values),
    "enable_thinking": json_values, "thinking_budget": json_values,
    "preserve_thinking": json_values, "translation_options": json_values,
    "grammar": st.one_of(grammars, json_values), "user": json_values,
    "unknown_field": json_values,
}


@st.composite
def bodies(draw: st.DrawFn) -> bytes:
    """A request body: a few fields under attack on top of a small valid request."""
    fields: dict[str, Any] = {"model": "qwen-plus", "messages": [USER], "max_tokens": 4,
                              "stream": draw(st.booleans())}
    for name in draw(st.lists(st.sampled_from(sorted(FIELDS)), min_size=1, max_size=3,
                              unique=True)):
        fields[name] = draw(FIELDS[name])
    kind = draw(st.sampled_from(["json"] * 12 + ["deep", "bytes", "truncated"]))
    text = json.dumps(fields, ensure_ascii=draw(st.booleans()))
    if kind == "deep":  # spliced in as text: json.dumps itself would recurse that deep
        depth = draw(st.sampled_from([62, 63, 64, 65, 5000, 100_000]))
        text = text[:-1] + ', "deep": ' + "[" * depth + "]" * depth + "}"
    if kind == "bytes":
        return draw(st.binary(max_size=200))
    if kind == "truncated":
        return text[: draw(st.integers(0, len(text)))].encode()
    return text.encode("utf-8", errors="surrogatepass")


def check_answer(response: httpx.Response) -> None:
    """The answer is a 2xx with a completion (or an SSE stream), or a 4xx in DashScope's
    envelope — never a 5xx."""
    assert response.status_code < 500, (response.status_code, response.text[:500])
    if response.status_code >= 400:
        body = response.json()
        assert set(body) == {"error", "request_id"}, body
        assert body["error"]["message"] and body["error"]["code"], body
        return
    if response.headers["content-type"].startswith("text/event-stream"):
        assert response.text.rstrip().endswith("data: [DONE]") or '"error"' in response.text
        return
    assert response.json()["object"] == "chat.completion"
