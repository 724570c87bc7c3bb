"""Workload `multiturn`: users in several turns over a shared system prompt; TTFT per turn
with exact prefix reuse, full reuse, no reuse, and llama-server."""

from __future__ import annotations

import asyncio
import random
import statistics

import httpx

from bench.common.stats import fmt, median, ratio, verdict
from bench.serving_bench.client import Messages, Reply, run_client, stream_chat
from bench.serving_bench.context import Bench, Section, interleave, setup_line
from bench.serving_bench.engines import (
    LLAMA_SERVER,
    QWENCHAT,
    QWENCHAT_FULL_REUSE,
    QWENCHAT_NO_REUSE,
    Server,
)


def user_message(bench: Bench, user: int, turn: int) -> str:
    rng = random.Random(f"user-{user}-turn-{turn}")
    return bench.tokenizer.filler(bench.scale.request_tokens, rng,
                                  f"I am customer {user}, this is my message {turn}.")


def run_multiturn(bench: Bench) -> Section:
    scale = bench.scale
    system = bench.tokenizer.system_prompt(scale.system_tokens)
    system_tokens = bench.tokenizer.count_text(system)
    messages = {(u, t): user_message(bench, u, t)
                for u in range(scale.users) for t in range(1, scale.turns + 1)}
    eos = bench.config.eos_token_id

    async def converse(client: httpx.AsyncClient, server: Server, user: int) -> list[Reply]:
        history: Messages = [{"role": "system", "content": system}]
        replies = []
        for turn in range(1, scale.turns + 1):
            history.append({"role": "user", "content": messages[user, turn]})
            reply = await stream_chat(client, server, history, scale.reply_tokens, eos)
            history.append({"role": "assistant", "content": reply.text})
            replies.append(reply)
        return replies

    def measure(server: Server, _round: int) -> list[list[Reply]]:
        async def everyone(client: httpx.AsyncClient) -> list[list[Reply]]:
            return list(await asyncio.gather(*(converse(client, server, user)
                                               for user in range(scale.users))))
        users = run_client(everyone)
        turns = [statistics.median(u[t].ttft for u in users) * 1000 for t in range(scale.turns)]
        print("  median TTFT ms by turn: " + ", ".join(f"{ms:.0f}" for ms in turns))
        return users

    engines = (QWENCHAT, QWENCHAT_FULL_REUSE, QWENCHAT_NO_REUSE, LLAMA_SERVER)
    results = interleave(bench, engines, "multiturn", measure)
    first_prompt = bench.tokenizer.count_prompt(
        [{"role": "system", "content": system}, {"role": "user", "content": messages[0, 1]}])
    reported = [users[0][0].prompt_tokens for users in results[QWENCHAT.name]]
    print(f"  system prompt: {system_tokens} tokens; turn-1 prompt: {first_prompt} by the "
          f"model's template, {reported} by qwenchat's usage")
    return Section("Serving: multi-turn prefix reuse",
                   _multiturn_body(bench, results, system_tokens))


def _multiturn_body(bench: Bench, results: dict[str, list[list[list[Reply]]]],
                    system_tokens: int) -> str:
    turns = range(bench.scale.turns)

    def replies_at(name: str, turn: int) -> list[Reply]:
        return [user[turn] for run in results[name] for user in run]

    def ttft(name: str, turn: int) -> float | None:
        return median([r.ttft * 1000 for r in replies_at(name, turn)])

    def cached(name: str, turn: int) -> float | None:
        values = [r.cached_tokens for r in replies_at(name, turn) if r.cached_tokens is not None]
        return statistics.fmean(values) if values else None

    names = list(results)
    rows = ["| turn | " + " | ".join(f"{n} TTFT ms" for n in names) + " | "
            + " | ".join(f"{n} mean cached tokens" for n in names) + " |",
            "|---" * (2 * len(names) + 1) + "|"]
    for turn in turns:
        rows.append(f"| {turn + 1} | " + " | ".join(fmt(ttft(n, turn), 0) for n in names)
                    + " | " + " | ".join(fmt(cached(n, turn), 0) for n in names) + " |")
    last = turns[-1]
    growth = {n: ratio(ttft(n, last), ttft(n, 0)) for n in names}
    speedup = ratio(ttft(QWENCHAT_NO_REUSE.name, last), ttft(QWENCHAT.name, last))
    qwen_growth = growth[QWENCHAT.name]
    growth_met = None if qwen_growth is None else qwen_growth <= 1.0
    speedup_met = None if speedup is None else speedup >= 3.0
    scale = bench.scale
    return "\n".join([
        setup_line(bench, f" {scale.users} users run concurrently, each {scale.turns} turns "
                          f"in sequence over a shared {system_tokens}-token system prompt; a "
                          f"turn adds a unique ~{scale.request_tokens}-token user message and "
                          f"the previous {scale.reply_tokens}-token replies. TTFT: median over "
                          "users and rounds."),
        "", *rows, "",
        f"Turn {last + 1} ÷ turn 1 TTFT: "
        + ", ".join(f"{n} {fmt(growth[n], 2)}" for n in names)
        + f". No reuse ÷ reuse at turn {last + 1}: **{fmt(speedup, 2)}×**.",
        "",
        f"Targets: qwenchat turn {last + 1} no slower than turn 1: {verdict(growth_met)}; "
        f"≥ 3× faster than without reuse at turn {last + 1}: {verdict(speedup_met)}.",
    ])
