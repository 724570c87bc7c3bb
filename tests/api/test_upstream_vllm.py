"""A qwenchat gateway in front of a real vLLM (dialect ``vllm``; PyPI's CPU build on the
starter model, see the ``vllm_server`` fixture): answers and usage are vLLM's own, the
thinking switch and budget reach vLLM's chat template and sampler, vLLM's ``reasoning``
comes back as DashScope's ``reasoning_content``, ``max_completion_tokens`` bounds what vLLM
generates, and vLLM's refusals stay 400s."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import openai
import pytest
from harness.qwenchat import ServerProcess, sdk, upstream_gateway
from harness.services import VllmServer

pytestmark = pytest.mark.vllm

ASK: dict[str, Any] = {"model": "qwen-plus", "max_tokens": 12, "temperature": 0,
                       "messages": [{"role": "user", "content": "Name three colours."}]}
# The tiny model never writes `</think>` itself. vLLM's thinking budget (DashScope's
# thinking_budget, sent as thinking_token_budget) forces it after a few tokens, and a bias
# against <|im_end|> (id 2) keeps the model from stopping there: the answer is reasoning, then
# content, split at a fixed token, the same on every run.
THINK: dict[str, Any] = {**ASK, "model": "qwen3.6-plus", "max_tokens": 16,
                         "logit_bias": {"2": -100}}
BUDGET = 5


@pytest.fixture(scope="module")
def gateway(vllm_server: VllmServer,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    home = tmp_path_factory.mktemp("vllm-gateway")
    models = {"qwen-plus": VllmServer.SERVED_NAME, "qwen3.6-plus": VllmServer.SERVED_NAME}
    with upstream_gateway(home, "vllm", vllm_server.url, models) as proc:
        yield proc


def direct(server: VllmServer, thinking: bool, **fields: Any) -> Any:
    """vLLM's own answer to ``ASK`` with ``fields``, thinking switched as qwenchat sends it."""
    extra = {"chat_template_kwargs": {"enable_thinking": thinking},
             **fields.pop("extra_body", {})}
    with openai.OpenAI(base_url=server.url, api_key="none", max_retries=0) as client:
        return client.chat.completions.create(
            **{**ASK, **fields, "model": VllmServer.SERVED_NAME}, extra_body=extra)


def test_answers_and_usage_are_vllms_own(vllm_server: VllmServer,
                                         gateway: ServerProcess) -> None:
    expected = direct(vllm_server, thinking=False)
    with sdk(gateway.url) as client:
        answer = client.chat.completions.create(**ASK)
        chunks = list(client.chat.completions.create(**ASK, stream=True))
        metered = list(client.chat.completions.create(
            **ASK, stream=True, stream_options={"include_usage": True}))
    assert expected.choices[0].message.content  # the comparisons below compare something
    assert answer.choices[0].message.content == expected.choices[0].message.content
    assert answer.model == "qwen-plus"
    assert answer.usage is not None and expected.usage is not None
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (
        expected.usage.prompt_tokens, expected.usage.completion_tokens)
    for stream in (chunks, metered):
        text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
        assert text == expected.choices[0].message.content
    assert all(chunk.usage is None for chunk in chunks)  # not asked for
    assert all(chunk.usage is None for chunk in metered[:-1])
    assert metered[-1].choices == [] and metered[-1].usage is not None
    assert (metered[-1].usage.prompt_tokens, metered[-1].usage.completion_tokens) == (
        expected.usage.prompt_tokens, expected.usage.completion_tokens)


def test_the_thinking_switch_reaches_vllms_template(vllm_server: VllmServer,
                                                    gateway: ServerProcess) -> None:
    def prompt_tokens(**fields: Any) -> int:
        with sdk(gateway.url) as client:
            reply = client.chat.completions.create(**{**ASK, "max_tokens": 1, **fields})
        assert reply.usage is not None
        return reply.usage.prompt_tokens

    plain = prompt_tokens()  # qwen-plus: thinking off by default
    thinking = prompt_tokens(extra_body={"enable_thinking": True})
    assert thinking > plain
    assert prompt_tokens(model="qwen3.6-plus") == thinking  # thinks by default
    assert prompt_tokens(model="qwen3.6-plus", extra_body={"enable_thinking": False}) == plain
    for switch, expected in ((False, plain), (True, thinking)):
        usage = direct(vllm_server, thinking=switch, max_tokens=1).usage
        assert usage is not None and usage.prompt_tokens == expected


def test_an_earlier_answers_reasoning_reaches_vllms_template(vllm_server: VllmServer,
                                                             gateway: ServerProcess) -> None:
    said = {"role": "assistant", "content": "Red, blue and green."}
    history = [*ASK["messages"], said, {"role": "user", "content": "One more."}]
    with sdk(gateway.url) as client:
        usages = [client.chat.completions.create(
            **{**ASK, "max_tokens": 1, "messages": [*history[:1], message, *history[2:]]}).usage
            for message in (said, {**said, "reasoning_content": "Colours of the flag."})]
    expected = direct(vllm_server, thinking=False, max_tokens=1, messages=[
        *history[:1], {**said, "reasoning": "Colours of the flag."}, *history[2:]]).usage
    assert usages[0] is not None and usages[1] is not None and expected is not None
    assert usages[0].prompt_tokens < usages[1].prompt_tokens == expected.prompt_tokens


def test_vllms_reasoning_is_dashscopes_reasoning_content(vllm_server: VllmServer,
                                                         gateway: ServerProcess) -> None:
    expected = direct(vllm_server, thinking=True, **THINK,
                      extra_body={"thinking_token_budget": BUDGET}).choices[0].message
    reasoning, content = (expected.model_extra or {}).get("reasoning"), expected.content
    assert reasoning and content  # the budget ended the reasoning before max_tokens
    with sdk(gateway.url) as client:
        answer = client.chat.completions.create(
            **THINK, extra_body={"thinking_budget": BUDGET})
        chunks = list(client.chat.completions.create(
            **THINK, extra_body={"thinking_budget": BUDGET}, stream=True))
    message = answer.choices[0].message
    assert (message.model_extra or {}).get("reasoning_content") == reasoning
    assert message.content == content
    assert "reasoning" not in (message.model_extra or {})
    deltas = [(c.choices[0].delta.model_extra or {}) for c in chunks if c.choices]
    assert "".join(delta.get("reasoning_content") or "" for delta in deltas) == reasoning
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == content
    assert not any("reasoning" in delta for delta in deltas)


def test_an_unset_max_tokens_leaves_the_bound_to_vllm(vllm_server: VllmServer,
                                                      gateway: ServerProcess) -> None:
    # qwen3.6-plus's DashScope default (65,536) is above this vLLM's context length, which
    # vLLM refuses; unset, vLLM answers until the model stops (a few tokens here).
    expected = direct(vllm_server, thinking=True, max_tokens=None)
    with sdk(gateway.url) as client:
        answer = client.chat.completions.create(
            **{**ASK, "model": "qwen3.6-plus", "max_tokens": openai.NOT_GIVEN})
    assert answer.usage is not None and expected.usage is not None
    assert answer.usage.completion_tokens == expected.usage.completion_tokens
    assert (answer.choices[0].message.model_extra or {}).get("reasoning_content") == (
        expected.choices[0].message.model_extra or {}).get("reasoning")


def test_max_completion_tokens_reaches_vllm_streamed_and_not(gateway: ServerProcess) -> None:
    # LangChain's ChatOpenAI(max_tokens=5) and the SDK send the limit under this name; with
    # thinking on it bounds the reasoning too, as vLLM counts it.
    limited = {**THINK, "max_tokens": openai.NOT_GIVEN, "max_completion_tokens": 6}
    with sdk(gateway.url) as client:
        answer = client.chat.completions.create(**limited)
        chunks = list(client.chat.completions.create(
            **limited, stream=True, stream_options={"include_usage": True}))
    assert answer.choices[0].finish_reason == "length"
    assert answer.usage is not None and answer.usage.completion_tokens == 6
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "length"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 6


def test_vllms_refusals_stay_400s_with_its_message(gateway: ServerProcess) -> None:
    too_long = {**ASK, "messages": [{"role": "user", "content": "word " * 1100}]}
    with sdk(gateway.url) as client, pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(**too_long)
    assert caught.value.status_code == 400
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["code"] == "invalid_parameter_error"
    assert "maximum context length is 1024 tokens" in caught.value.body["message"]
