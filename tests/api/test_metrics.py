"""``/metrics`` through a real server: Prometheus's own parser reads it, and the request,
token, latency, rejection and engine families move as requests are made."""

from __future__ import annotations

import httpx
from harness.qwenchat import ServerProcess
from prometheus_client.parser import text_string_to_metric_families

ASK = {"model": "qwen-turbo", "max_tokens": 4,
       "messages": [{"role": "user", "content": "Say hi."}]}


def scrape(server: ServerProcess) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    reply = httpx.get(f"{server.url}/metrics")
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/plain")
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(reply.text)
            for sample in family.samples}


def value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str,
          **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_move_with_requests(server: ServerProcess) -> None:
    before = scrape(server)
    reply = httpx.post(f"{server.url}/v1/chat/completions", json=ASK, timeout=60)
    assert reply.status_code == 200
    used = reply.json()["usage"]
    bad = httpx.post(f"{server.url}/v1/chat/completions", json={**ASK, "top_p": 2})
    assert bad.status_code == 400
    unknown = httpx.post(f"{server.url}/v1/chat/completions",
                         json={**ASK, "model": "made-up-model"})
    assert unknown.status_code == 404
    after = scrape(server)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("qwenchat_requests_total", model="qwen-turbo", status="200", code="") == 1
    assert moved("qwenchat_requests_total", model="qwen-turbo", status="400",
                 code="invalid_parameter_error") == 1
    assert moved("qwenchat_tokens_total", model="qwen-turbo",
                 kind="prompt") == used["prompt_tokens"]
    assert moved("qwenchat_tokens_total", model="qwen-turbo",
                 kind="completion") == used["completion_tokens"]
    assert moved("qwenchat_request_duration_seconds_count", model="qwen-turbo") == 2
    # the ledger still names the model a refused request asked for; the metrics do not
    assert moved("qwenchat_time_to_first_token_seconds_count", model="qwen-turbo") == 1
    assert moved("qwenchat_requests_total", model="", status="404", code="model_not_found") == 1
    assert not any(dict(labels).get("model") == "made-up-model" for _, labels in after)
    assert value(after, "qwenchat_requests_in_progress", model="qwen-turbo") == 0
    engines = [labels for name, labels in after if name == "qwenchat_engine_slots"]
    assert engines, "no engine gauges"
    engine = dict(engines[0])["engine"]
    assert value(after, "qwenchat_engine_slots", engine=engine) >= 1
    assert value(after, "qwenchat_engine_queue_depth", engine=engine) == 0
    assert moved("qwenchat_engine_prompt_tokens_total", engine=engine) == used["prompt_tokens"]
    hit_rate = value(after, "qwenchat_engine_prefix_cache_hit_ratio", engine=engine)
    assert 0 <= hit_rate <= 1
