"""One greedy streamed completion from `qwenchat serve`, timed: time to the first token and
decode tokens/s."""

from __future__ import annotations

import json
import time

import httpx

MESSAGES = [{"role": "user", "content": "Write a long story about a dragon who learns to fly."}]


def stream_decode(url: str, tokens: int) -> tuple[float, float]:
    """(ttft seconds, decode tokens/s) streaming ``tokens`` tokens (the starter's
    <|im_end|> banned) from the server at ``url``."""
    body = {"model": "qwen-plus", "messages": MESSAGES, "stream": True, "temperature": 0,
            "max_tokens": tokens, "logit_bias": {"2": -100}}
    stamps: list[float] = []
    started = time.perf_counter()
    with httpx.stream("POST", f"{url}/v1/chat/completions", json=body, timeout=300) as reply:
        for line in reply.iter_lines():
            if not line.startswith("data: {"):
                continue
            chunk = json.loads(line[6:])
            if chunk["choices"] and chunk["choices"][0]["delta"].get("content"):
                stamps.append(time.perf_counter())
    return stamps[0] - started, (len(stamps) - 1) / (stamps[-1] - stamps[0])
