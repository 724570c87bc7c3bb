"""Chat completions through the official openai SDK against a real server on the starter model."""

from __future__ import annotations

import json
import time

import httpx
import openai
import pytest
from harness.qwenchat import ServerProcess

QUESTION = [{"role": "user", "content": "What is the capital of France?"}]
STORY = [{"role": "user", "content": "Write a very long story about a dragon."}]
NO_EOS = {"logit_bias": {"2": -100}}  # the starter's <|im_end|>: keeps it generating


def test_non_stream_answer_mentions_paris(client: openai.OpenAI) -> None:
    response = client.chat.completions.create(model="qwen3.6-plus", messages=QUESTION,
                                              temperature=0)
    choice = response.choices[0]
    assert "Paris" in (choice.message.content or "")
    assert choice.finish_reason == "stop"
    assert choice.index == 0
    assert response.model == "qwen3.6-plus"
    assert response.object == "chat.completion"
    assert response.id.startswith("chatcmpl-")
    usage = response.usage
    assert usage is not None and usage.prompt_tokens > 0 and usage.completion_tokens > 0
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert usage.prompt_tokens_details is not None
    assert 0 <= (usage.prompt_tokens_details.cached_tokens or 0) < usage.prompt_tokens
    assert usage.completion_tokens_details is not None
    assert usage.completion_tokens_details.reasoning_tokens == 0


def test_stream_reassembles_to_the_non_stream_text(client: openai.OpenAI) -> None:
    kwargs = {"model": "qwen-plus", "messages": QUESTION, "temperature": 0.8, "seed": 7,
              "max_tokens": 60}
    whole = client.chat.completions.create(**kwargs)  # type: ignore[call-overload]
    chunks = list(client.chat.completions.create(stream=True, **kwargs))  # type: ignore[call-overload]
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[0].choices[0].delta.content == ""
    assert len({chunk.id for chunk in chunks}) == 1
    assert len({chunk.created for chunk in chunks}) == 1
    assert all(chunk.object == "chat.completion.chunk" for chunk in chunks)
    assert all(chunk.usage is None for chunk in chunks)  # no usage chunk unless asked
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks)
    assert text == whole.choices[0].message.content
    assert chunks[-1].choices[0].finish_reason == whole.choices[0].finish_reason
    assert "Paris" in text


def test_stream_include_usage_sends_one_usage_chunk_with_no_choices(
        client: openai.OpenAI) -> None:
    chunks = list(client.chat.completions.create(
        model="qwen3.6-plus", messages=QUESTION, temperature=0, stream=True,
        stream_options={"include_usage": True},
    ))
    *body, last = chunks
    assert last.choices == []
    assert last.usage is not None and last.usage.completion_tokens > 0
    assert last.usage.prompt_tokens_details is not None
    assert all(chunk.usage is None for chunk in body)
    assert body[-1].choices[0].finish_reason == "stop"


def test_max_tokens_ends_with_length(client: openai.OpenAI) -> None:
    response = client.chat.completions.create(model="qwen-plus", messages=STORY,
                                              max_tokens=5, temperature=0)
    assert response.choices[0].finish_reason == "length"
    assert response.usage is not None and response.usage.completion_tokens == 5


@pytest.mark.parametrize("stream", [False, True])
def test_stop_string_is_never_in_the_output(client: openai.OpenAI, stream: bool) -> None:
    kwargs = {"model": "qwen-plus", "messages": QUESTION, "temperature": 0}
    full = client.chat.completions.create(**kwargs).choices[0].message.content or ""  # type: ignore[call-overload]
    assert "Paris" in full
    # a stop string that spans several tokens, starting inside the answer
    stop = full[full.index("Paris") - 3 : full.index("Paris") + 4]
    if stream:
        chunks = list(client.chat.completions.create(stop=[stop, "zzz"], stream=True, **kwargs))  # type: ignore[call-overload]
        text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
        finish = chunks[-1].choices[0].finish_reason
    else:
        choice = client.chat.completions.create(stop=stop, **kwargs).choices[0]  # type: ignore[call-overload]
        text, finish = choice.message.content or "", choice.finish_reason
    assert text == full[: full.index(stop)]
    assert stop not in text
    assert finish == "stop"


def test_n_two_returns_two_indexed_choices(client: openai.OpenAI) -> None:
    response = client.chat.completions.create(model="qwen-plus", messages=QUESTION, n=2,
                                              temperature=1.0, seed=3, max_tokens=20)
    assert [choice.index for choice in response.choices] == [0, 1]
    assert all(choice.message.content for choice in response.choices)
    single = client.chat.completions.create(model="qwen-plus", messages=QUESTION,
                                            temperature=1.0, seed=3, max_tokens=20)
    assert single.choices[0].message.content == response.choices[0].message.content


def test_n_two_streams_chunks_for_each_index(client: openai.OpenAI) -> None:
    chunks = list(client.chat.completions.create(
        model="qwen-plus", messages=QUESTION, n=2, temperature=0, max_tokens=10, stream=True))
    texts = {0: "", 1: ""}
    finishes = {}
    for chunk in chunks:
        for choice in chunk.choices:
            texts[choice.index] += choice.delta.content or ""
            if choice.finish_reason:
                finishes[choice.index] = choice.finish_reason
    assert texts[0] and texts[0] == texts[1]  # temperature 0: identical choices
    assert set(finishes) == {0, 1}


def test_same_seed_same_text(client: openai.OpenAI) -> None:
    kwargs = {"model": "qwen-turbo", "messages": STORY, "temperature": 1.2, "top_p": 0.95,
              "seed": 1234, "max_tokens": 40}
    first = client.chat.completions.create(**kwargs).choices[0].message.content  # type: ignore[call-overload]
    second = client.chat.completions.create(**kwargs).choices[0].message.content  # type: ignore[call-overload]
    other = client.chat.completions.create(**{**kwargs, "seed": 99}).choices[0].message.content  # type: ignore[call-overload]
    assert first == second
    assert first != other


def test_multi_turn_conversation(client: openai.OpenAI) -> None:
    messages = [
        {"role": "system", "content": "You are a geography teacher."},
        *QUESTION,
        {"role": "assistant", "content": "The capital of France is Paris."},
        {"role": "user", "content": "And what is the capital of Germany?"},
    ]
    response = client.chat.completions.create(model="qwen3-max", messages=messages,  # type: ignore[arg-type]
                                              temperature=0, max_tokens=30)
    assert "Berlin" in (response.choices[0].message.content or "")


def test_sampling_parameters_are_accepted(client: openai.OpenAI) -> None:
    response = client.chat.completions.create(
        model="qwen-plus", messages=QUESTION, temperature=0.5, top_p=0.9, presence_penalty=1.0,
        max_tokens=20, extra_body={"top_k": 20, "repetition_penalty": 1.1},
    )
    assert response.choices[0].message.content


def test_logprobs_cover_the_content(client: openai.OpenAI) -> None:
    response = client.chat.completions.create(model="qwen-plus", messages=QUESTION,
                                              temperature=0, logprobs=True, top_logprobs=3)
    choice = response.choices[0]
    assert choice.logprobs is not None and choice.logprobs.content
    entries = choice.logprobs.content
    assert "".join(entry.token for entry in entries) == choice.message.content
    for entry in entries:
        assert entry.logprob <= 0
        assert len(entry.top_logprobs) == 3
        # greedy decoding picks the most likely token
        assert entry.logprob == pytest.approx(max(t.logprob for t in entry.top_logprobs))


def test_v1_alias_serves_the_same_api(server: ServerProcess) -> None:
    with openai.OpenAI(base_url=f"{server.url}/v1", api_key="anything",
                       max_retries=0) as alias:
        response = alias.chat.completions.create(model="qwen-plus", messages=QUESTION,
                                                 temperature=0, max_tokens=10)
    assert response.choices[0].message.content


def test_models_lists_every_served_id(client: openai.OpenAI, server: ServerProcess) -> None:
    ids = [model.id for model in client.models.list()]
    for expected in ("qwen3.6-plus", "qwen3.5-plus", "qwen-plus", "qwq-plus", "qwen-mt-plus"):
        assert expected in ids
    alias = httpx.get(f"{server.url}/v1/models").json()
    assert [entry["id"] for entry in alias["data"]] == ids
    assert alias["object"] == "list"
    assert all(entry["root"].endswith(".gguf") for entry in alias["data"])
    assert client.models.retrieve("qwen-plus").id == "qwen-plus"


def test_model_cards_carry_limits_and_capabilities(server: ServerProcess) -> None:
    cards = {card["id"]: card for card in httpx.get(f"{server.url}/v1/models").json()["data"]}
    thinking = {model_id: card["capabilities"]["thinking"] for model_id, card in cards.items()}
    assert thinking["qwen3.6-plus"] == "hybrid-on"
    assert thinking["qwen-plus"] == "hybrid-off"
    assert thinking["qwq-plus"] == "always"
    assert thinking["qwen-mt-plus"] == "off"
    plus = cards["qwen-plus"]
    assert plus["capabilities"]["tools"] is True
    assert cards["qwen-mt-plus"]["capabilities"]["tools"] is False
    assert plus["max_model_len"] > plus["capabilities"]["max_output_tokens"] > 0
    single = httpx.get(f"{server.url}/v1/models/qwen-plus").json()
    assert single == plus


def test_health_is_ok_when_ready(server: ServerProcess) -> None:
    body = httpx.get(f"{server.url}/health").json()
    assert body["status"] == "ok"


def test_disconnect_mid_stream_frees_the_engine(client: openai.OpenAI,
                                                server: ServerProcess) -> None:
    stream = client.chat.completions.create(model="qwen-plus", messages=STORY, stream=True,
                                            max_tokens=4000, extra_body=NO_EOS)
    for received, _chunk in enumerate(stream, start=1):
        if received == 5:
            break
    stream.close()  # the client goes away with ~4000 tokens still to generate
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if httpx.get(f"{server.url}/health").json()["running"] == 0:
            break
        time.sleep(0.05)
    assert httpx.get(f"{server.url}/health").json()["running"] == 0
    response = client.chat.completions.create(model="qwen-plus", messages=QUESTION,
                                              temperature=0, max_tokens=10)
    assert response.choices[0].message.content


def test_concurrent_requests_are_all_answered(server: ServerProcess) -> None:
    import concurrent.futures

    def ask(i: int) -> str:
        with openai.OpenAI(base_url=f"{server.url}/v1", api_key="k", max_retries=0) as local:
            reply = local.chat.completions.create(model="qwen-plus", messages=QUESTION,
                                                  max_tokens=8, seed=i)
        return reply.choices[0].message.content or ""

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(ask, range(6)))
    assert all(answers)


def test_partial_mode_continues_the_assistant_prefix(client: openai.OpenAI) -> None:
    prefix = "The capital of France is"
    response = client.chat.completions.create(
        model="qwen-plus", temperature=0, max_tokens=10,
        messages=[*QUESTION, {"role": "assistant", "content": prefix, "partial": True}],  # type: ignore[list-item]
    )
    content = response.choices[0].message.content or ""
    assert not content.startswith(prefix)
    assert "Paris" in content


def test_non_ascii_text_streams_whole_characters(client: openai.OpenAI) -> None:
    messages = [{"role": "user", "content": "Répète exactement: «Ça coûte 5 €» 日本語"}]
    chunks = list(client.chat.completions.create(model="qwen-plus", messages=messages,  # type: ignore[arg-type]
                                                 temperature=0, max_tokens=40, stream=True))
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks)
    assert text
    assert "\ufffd" not in text  # no character was split between tokens or chunks


def test_raw_sse_frames(server: ServerProcess) -> None:
    body = {"model": "qwen-plus", "messages": QUESTION, "temperature": 0, "max_tokens": 4,
            "stream": True, "logprobs": True, "top_logprobs": 1}
    with httpx.stream("POST", f"{server.url}/compatible-mode/v1/chat/completions",
                      json=body) as reply:
        assert reply.headers["content-type"].startswith("text/event-stream")
        raw = reply.read().decode()
    frames = raw.split("\n\n")
    assert frames[-1] == "" and frames[-2] == "data: [DONE]"
    chunks = [json.loads(frame.removeprefix("data: ")) for frame in frames[:-2]]
    assert all(frame.startswith("data: {") for frame in frames[:-2])
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    finish = chunks[-1]["choices"][0]
    assert finish["finish_reason"] == "length" and finish["delta"] == {"content": ""}
    content_chunks = [c for c in chunks[1:-1] if c["choices"][0]["delta"].get("content")]
    assert all(c["choices"][0]["logprobs"]["content"] for c in content_chunks)
    assert all(c["usage"] is None for c in chunks)


def test_grammar_extension_constrains_the_answer(client: openai.OpenAI,
                                                 server: ServerProcess) -> None:
    grammar = 'root ::= "Paris" | "Lyon"'
    response = client.chat.completions.create(model="qwen-plus", messages=QUESTION,
                                              extra_body={"grammar": grammar}, max_tokens=10)
    assert response.choices[0].message.content in ("Paris", "Lyon")
    bad = httpx.post(f"{server.url}/v1/chat/completions", json={
        "model": "qwen-plus", "messages": QUESTION, "grammar": "root ::= ("})
    assert bad.status_code == 400
    assert bad.json()["error"]["param"] == "grammar"


def test_fields_that_would_change_the_answer_unheard_are_400s(server: ServerProcess) -> None:
    # enable_search: the embedded engine cannot search; reasoning_effort: no such knob here
    for field, value in (("enable_search", True), ("reasoning_effort", "high")):
        refused = httpx.post(f"{server.url}/v1/chat/completions", json={
            "model": "qwen-plus", "messages": QUESTION, "max_tokens": 3, field: value})
        assert refused.status_code == 400, refused.text
        assert refused.json()["error"]["param"] == field
    allowed = httpx.post(f"{server.url}/v1/chat/completions", json={
        "model": "qwen-plus", "messages": QUESTION, "max_tokens": 3, "enable_search": False,
        "store": False, "service_tier": "auto"})
    assert allowed.status_code == 200, allowed.text
