"""Batching and prefix reuse as a client sees them, through real HTTP and the official SDK:
``cached_tokens`` on a conversation's next turn with the same answer as a server without
reuse, concurrent streams answering as they do alone, and the engine's numbers on /health."""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import openai
import pytest
from harness.qwenchat import ServerProcess, sdk
from openai.types.chat import ChatCompletionMessageParam

SYSTEM = "You are a patient teacher. " + " ".join(
    f"Guideline {i}: explain with a concrete example and check the learner understood."
    for i in range(10))
GREEDY = {"temperature": 0, "max_tokens": 30}


@pytest.fixture(scope="module")
def cold_server(starter_model: Path,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server that reads every prompt whole."""
    home = tmp_path_factory.mktemp("cold")
    env = {**os.environ, "QWENCHAT_PREFIX_CACHE": "off"}
    with ServerProcess(["--model", str(starter_model), "--threads", "1"], home,
                       home / "server.log", env) as proc:
        yield proc


@pytest.fixture(scope="module")
def cold_client(cold_server: ServerProcess) -> Iterator[openai.OpenAI]:
    with sdk(cold_server.url) as client:
        yield client


def ask(client: openai.OpenAI,
        messages: list[ChatCompletionMessageParam]) -> tuple[str, int, int]:
    """(answer, prompt tokens, cached tokens) of one greedy completion."""
    reply = client.chat.completions.create(model="qwen-plus", messages=messages, **GREEDY)
    usage = reply.usage
    assert usage is not None and usage.prompt_tokens_details is not None
    return (reply.choices[0].message.content or "", usage.prompt_tokens,
            usage.prompt_tokens_details.cached_tokens or 0)


def test_the_next_turn_is_served_from_the_cache_with_the_cold_answer(
        client: openai.OpenAI, cold_client: openai.OpenAI) -> None:
    messages: list[ChatCompletionMessageParam] = [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": "What is a prime number?"},
    ]
    answer, first_prompt, _ = ask(client, messages)
    messages += [{"role": "assistant", "content": answer},
                 {"role": "user", "content": "Give me three more examples."}]
    warm_answer, prompt_tokens, cached = ask(client, messages)
    cold_answer, cold_prompt_tokens, cold_cached = ask(cold_client, messages)
    assert cached >= first_prompt - 5  # the first turn's prompt at least, from the cache
    assert cached < prompt_tokens
    assert cold_cached == 0 and cold_prompt_tokens == prompt_tokens
    assert warm_answer == cold_answer


def test_concurrent_streams_answer_as_they_do_alone(client: openai.OpenAI) -> None:
    questions = ["Why do cats purr?", "What is rain?", "Name three planets.",
                 "How do bees make honey?"]

    def stream(question: str) -> str:
        chunks = client.chat.completions.create(
            model="qwen-plus", messages=[{"role": "user", "content": question}],
            stream=True, **GREEDY)
        return "".join(chunk.choices[0].delta.content or "" for chunk in chunks
                       if chunk.choices)

    alone = [stream(question) for question in questions]
    with ThreadPoolExecutor(len(questions)) as pool:
        together = list(pool.map(stream, questions))
    assert together == alone


def test_health_reports_slots_and_prefix_hits(server: ServerProcess,
                                              client: openai.OpenAI) -> None:
    messages: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Hello there!"}]
    ask(client, messages)
    ask(client, messages)  # the same prompt again: all but its last token cached
    engines = httpx.get(f"{server.url}/health").json()["engines"]
    (metrics,) = engines.values()
    assert metrics["slots"] >= 4 and metrics["slots_busy"] == 0
    assert metrics["cached_tokens_total"] > 0 and 0 < metrics["prefix_hit_rate"] < 1
    assert metrics["steps_total"] > 0 and 0 <= metrics["overhead_fraction"] < 1


@pytest.fixture(scope="module")
def small_context(starter_model: Path,
                  tmp_path_factory: pytest.TempPathFactory) -> Iterator[openai.OpenAI]:
    """A server whose requests get 512 tokens of context each."""
    home = tmp_path_factory.mktemp("small")
    with ServerProcess(["--model", str(starter_model), "--threads", "1", "--context-size",
                        "512", "--slots", "2"], home, home / "server.log") as proc, \
            sdk(proc.url) as client:
        yield client


def test_a_request_that_fills_its_context_ends_alone_with_length(
        small_context: openai.OpenAI) -> None:
    def ask_for(question: str, max_tokens: int) -> tuple[str, str, int, int]:
        reply = small_context.chat.completions.create(
            model="qwen-plus", messages=[{"role": "user", "content": question}],
            temperature=0, max_tokens=max_tokens, logit_bias={"2": -100})
        usage = reply.usage
        assert usage is not None
        choice = reply.choices[0]
        return (choice.message.content or "", choice.finish_reason, usage.prompt_tokens,
                usage.completion_tokens)

    alone = ask_for("What is rain?", 40)
    with ThreadPoolExecutor(2) as pool:
        endless = pool.submit(ask_for, "Write a story that never ends.", 2000)
        neighbour = pool.submit(ask_for, "What is rain?", 40)
        _, reason, prompt_tokens, completion_tokens = endless.result()
        assert reason == "length" and prompt_tokens + completion_tokens == 513
        assert neighbour.result() == alone
