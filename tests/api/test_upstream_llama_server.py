"""A qwenchat gateway in front of llama.cpp's own llama-server (dialect ``llama-server``):
answers, streaming, usage, the thinking switch and ``max_completion_tokens`` pass through as
DashScope's."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from harness.qwenchat import ServerProcess, sdk, upstream_gateway
from harness.services import LlamaServer

ASK: dict[str, Any] = {"model": "qwen-plus", "max_tokens": 12, "temperature": 0, "seed": 1,
                       "messages": [{"role": "user", "content": "Name three colours."}]}


# ChatML like SmolLM2's own, but opening a reasoning block when the template argument
# enable_thinking is true (as Qwen3's does): the prompt's length shows what reached it.
TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message.role }}\n{{ message.content }}"
    "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n"
    "{% if enable_thinking is defined and enable_thinking %}<think>\nLet me think.\n"
    "{% endif %}{% endif %}"
)


@pytest.fixture(scope="module")
def llama_server(starter_model: Path,
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    template = tmp_path_factory.mktemp("template") / "chatml-thinking.jinja"
    template.write_text(TEMPLATE)
    with LlamaServer(starter_model, extra_args=("--jinja", "--chat-template-file",
                                                str(template))) as server:
        yield server


@pytest.fixture(scope="module")
def gateway(llama_server: LlamaServer,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    home = tmp_path_factory.mktemp("llama-gateway")
    models = {"qwen-plus": "starter", "qwen3.6-plus": "starter"}
    with upstream_gateway(home, "llama-server", llama_server.url, models) as proc:
        yield proc


def direct(server: LlamaServer, **fields: Any) -> Any:
    with openai.OpenAI(base_url=server.url, api_key="none", max_retries=0) as client:
        return client.chat.completions.create(**{**ASK, "model": "starter", **fields})


def test_answers_and_usage_match_llama_servers_own(llama_server: LlamaServer,
                                                   gateway: ServerProcess) -> None:
    expected = direct(llama_server, extra_body={"chat_template_kwargs":
                                                {"enable_thinking": False}})
    with sdk(gateway.url) as client:
        answer = client.chat.completions.create(**ASK)
        chunks = list(client.chat.completions.create(
            **ASK, stream=True, stream_options={"include_usage": True}))
    assert answer.choices[0].message.content == expected.choices[0].message.content
    assert answer.usage is not None and expected.usage is not None
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (
        expected.usage.prompt_tokens, expected.usage.completion_tokens)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == expected.choices[0].message.content
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == expected.usage.completion_tokens


def test_the_thinking_switch_reaches_llama_servers_template(gateway: ServerProcess) -> None:
    def prompt_tokens(**fields: Any) -> int:
        with sdk(gateway.url) as client:
            reply = client.chat.completions.create(**{**ASK, **fields})
        assert reply.usage is not None
        assert getattr(reply.choices[0].message, "reasoning", None) is None
        return reply.usage.prompt_tokens

    plain = prompt_tokens()  # qwen-plus: thinking off by default
    assert prompt_tokens(extra_body={"enable_thinking": True}) > plain
    assert prompt_tokens(model="qwen3.6-plus") > plain  # thinks by default
    assert prompt_tokens(model="qwen3.6-plus", extra_body={"enable_thinking": False}) == plain


def test_max_completion_tokens_reaches_llama_server(gateway: ServerProcess) -> None:
    limited = {**ASK, "max_tokens": openai.NOT_GIVEN, "max_completion_tokens": 4,
               "logit_bias": {"2": -100}}  # the starter's <|im_end|>
    with sdk(gateway.url) as client:
        answer = client.chat.completions.create(**limited)
        chunks = list(client.chat.completions.create(
            **limited, stream=True, stream_options={"include_usage": True}))
    assert answer.choices[0].finish_reason == "length"
    assert answer.usage is not None and answer.usage.completion_tokens == 4
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "length"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 4
