"""Chat templates render like Hugging Face's, inside a sandbox, with errors as 400s."""

from __future__ import annotations

import pytest

from qwenchat.chat import CHATML_TEMPLATE, ChatTemplate, plan_prompt
from qwenchat.core import ChatRequest, Message, Role, ToolCall, ToolSpec
from qwenchat.errors import InvalidParameter

USER = Message(Role.USER, "Bonjour, ça va ?")


def test_missing_template_falls_back_to_chatml() -> None:
    template = ChatTemplate(None)
    assert template.source == CHATML_TEMPLATE
    assert template.render([USER]) == (
        "<|im_start|>user\nBonjour, ça va ?<|im_end|>\n<|im_start|>assistant\n")


def test_tojson_keeps_key_order_and_non_ascii() -> None:
    template = ChatTemplate("{{ tools | tojson }}")
    tool = ToolSpec("météo", "Le temps", {"type": "object", "b": 1, "a": 2})
    assert template.render([USER], tools=[tool]) == (
        '[{"type": "function", "function": {"name": "météo", "description": "Le temps", '
        '"parameters": {"type": "object", "b": 1, "a": 2}}}]')


def test_messages_reach_the_template_in_openai_shape() -> None:
    template = ChatTemplate(
        "{% for m in messages %}{{ m.role }}:{{ m.content }}"
        "{% for c in m.tool_calls or [] %}[{{ c.function.name }} {{ c.function.arguments }}]"
        "{% endfor %}{% if m.tool_call_id %}<{{ m.tool_call_id }}>{% endif %}|{% endfor %}"
        "{% if enable_thinking is defined %}think={{ enable_thinking }}{% endif %}")
    call = ToolCall("call_1", "get_weather", '{"city": "Paris"}')
    messages = [USER, Message(Role.ASSISTANT, "", tool_calls=(call,)),
                Message(Role.TOOL, "sunny", tool_call_id="call_1")]
    assert template.render(messages, enable_thinking=False) == (
        'user:Bonjour, ça va ?|assistant:[get_weather {"city": "Paris"}]|tool:sunny<call_1>|'
        "think=False")


def test_raise_exception_in_a_template_is_a_400() -> None:
    template = ChatTemplate("{{ raise_exception('Conversation roles must alternate') }}")
    with pytest.raises(InvalidParameter, match="Conversation roles must alternate"):
        template.render([USER])


def test_the_sandbox_refuses_python_internals() -> None:
    template = ChatTemplate("{{ messages.__class__.__mro__[1].__subclasses__() }}")
    with pytest.raises(InvalidParameter):
        template.render([USER])


def test_partial_mode_appends_the_prefix_after_the_generation_prompt() -> None:
    request = ChatRequest(model="qwen-plus", messages=(
        USER, Message(Role.ASSISTANT, "Ça va très", partial=True)))
    assert plan_prompt(ChatTemplate(None), request).text == (
        "<|im_start|>user\nBonjour, ça va ?<|im_end|>\n<|im_start|>assistant\nÇa va très")


def test_default_system_prompt_only_when_none_is_given() -> None:
    template = ChatTemplate(None)
    plain = ChatRequest(model="qwen-plus", messages=(USER,))
    assert plan_prompt(template, plain, "Be kind.").text.startswith(
        "<|im_start|>system\nBe kind.<|im_end|>\n<|im_start|>user")
    own = ChatRequest(model="qwen-plus", messages=(Message(Role.SYSTEM, "Be brief."), USER))
    assert "Be kind." not in plan_prompt(template, own, "Be kind.").text
