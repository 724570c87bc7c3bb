"""Playground benchmark: what the page costs a browser, and whether it keeps up with a stream.

A real `qwenchat serve` (the starter model, one llama.cpp thread) and Debian's headless
Chromium driven by Playwright, as in tests/web/:

- load: fresh page loads (empty browser cache each): bytes transferred, time from the start
  of navigation until the page is ready (the model list is in), JS heap after load.
- stream: the same long completion (greedy, the starter's <|im_end|> banned so every answer
  runs to max_tokens) streamed by the playground, which renders markdown as it arrives, and
  by the official `openai` SDK, which renders nothing — the peer. Both rate the stream the
  same way: tokens after the first ÷ time after the first text. The clients alternate within
  each round; the table gives medians and the page ÷ SDK ratio, plus the page's main-thread
  busy time (Chrome's TaskDuration) per token and as a share of the stream's time.

    .venv/bin/python bench/playground.py [--rounds 3] [--loads 5] [--tokens 400] [--write]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.qwenchat import ServerProcess, sdk
from playwright.sync_api import Browser, CDPSession, expect, sync_playwright
from tests.web.browser import CHROMIUM_ARGS, DESKTOP, chromium_executable

from bench.common.report import write_section
from qwenchat.catalog import resolve_model_file
from qwenchat.settings import default_home

PROMPT = "Write a long essay about lighthouses, with headings and a list."
EOS = 2  # the starter's <|im_end|>


@dataclass(frozen=True)
class Rate:
    tokens: int
    per_second: float
    busy_ms: float | None = None  # the page's main-thread time during the stream
    wall_s: float | None = None


def page_load(browser: Browser, url: str) -> tuple[int, float, float]:
    """Bytes transferred, ms until ready, MB of JS heap, for one fresh load."""
    context = browser.new_context(**DESKTOP)
    page = context.new_page()
    start = time.perf_counter()
    page.goto(f"{url}/")
    expect(page.locator("#model option").first).to_be_attached(timeout=60_000)
    ready_ms = (time.perf_counter() - start) * 1000
    sizes = page.evaluate("""() => [...performance.getEntriesByType("navigation"),
        ...performance.getEntriesByType("resource")].map((e) => e.transferSize)""")
    heap = page.evaluate("() => performance.memory.usedJSHeapSize") / 2**20
    context.close()
    return sum(sizes), ready_ms, heap


def busy_seconds(session: CDPSession) -> float:
    """The page's main-thread busy time so far (Chrome's TaskDuration), in seconds."""
    metrics = session.send("Performance.getMetrics")["metrics"]
    return float(next(m["value"] for m in metrics if m["name"] == "TaskDuration"))


def page_stream(browser: Browser, url: str, tokens: int) -> Rate:
    context = browser.new_context(**DESKTOP)
    page = context.new_page()
    page.goto(f"{url}/")
    expect(page.locator("#model option").first).to_be_attached(timeout=60_000)
    page.get_by_label("Model", exact=True).select_option("qwen-plus")
    page.get_by_label("Temperature [0, 2)").fill("0")
    page.get_by_label("max_tokens").fill(str(tokens))
    page.get_by_label("Any other field, as a JSON object").fill(
        f'{{"logit_bias": {{"{EOS}": -100}}}}')
    page.get_by_label("Message", exact=True).fill(PROMPT)
    session = page.context.new_cdp_session(page)
    session.send("Performance.enable")
    before, start = busy_seconds(session), time.perf_counter()
    page.get_by_label("Message", exact=True).press("Enter")
    answer = page.locator(".message.assistant").last
    expect(answer.locator(".stats")).to_be_visible(timeout=600_000)
    wall, busy = time.perf_counter() - start, busy_seconds(session) - before
    out = int(answer.locator('dd[data-stat="Tokens out"]').inner_text())
    speed = float(answer.locator('dd[data-stat="Speed"]').inner_text().split()[0])
    context.close()
    return Rate(out, speed, busy * 1000, wall)


def sdk_stream(url: str, tokens: int) -> Rate:
    with sdk(url) as client:
        first = end = None
        out = 0
        for chunk in client.chat.completions.create(
                model="qwen-plus", messages=[{"role": "user", "content": PROMPT}],
                temperature=0, max_tokens=tokens, logit_bias={str(EOS): -100}, stream=True,
                stream_options={"include_usage": True}):
            now = time.perf_counter()
            if chunk.choices and chunk.choices[0].delta.content and first is None:
                first = now
            if chunk.usage:
                out = chunk.usage.completion_tokens
            end = now
    assert first is not None and end is not None
    return Rate(out, (out - 1) / (end - first))


def run(args: argparse.Namespace) -> str:
    model = resolve_model_file("starter", default_home(), say=print)
    home = Path(tempfile.mkdtemp(prefix="qwenchat-playground-bench-"))
    with ServerProcess(["--model", str(model), "--threads", "1"], home,
                       home / "server.log") as server, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_executable(),
                                             args=list(CHROMIUM_ARGS))
        sdk_stream(server.url, 16)  # warm up the model and the prompt cache
        loads = [page_load(browser, server.url) for _ in range(args.loads)]
        pages: list[Rate] = []
        sdks: list[Rate] = []
        for round_ in range(args.rounds):
            order = [("page", pages), ("sdk", sdks)][:: 1 if round_ % 2 == 0 else -1]
            for name, results in order:
                rate = (page_stream(browser, server.url, args.tokens) if name == "page"
                        else sdk_stream(server.url, args.tokens))
                results.append(rate)
                print(f"round {round_ + 1} {name}: {rate}", flush=True)
        browser.close()
    return report(args, loads, pages, sdks)


def report(args: argparse.Namespace, loads: list[tuple[int, float, float]],
           pages: list[Rate], sdks: list[Rate]) -> str:
    median = statistics.median
    page_rate, sdk_rate = median(r.per_second for r in pages), median(r.per_second for r in sdks)
    busy_per_token = median((r.busy_ms or 0) / r.tokens for r in pages)
    busy_share = median((r.busy_ms or 0) / 1000 / (r.wall_s or 1) for r in pages)
    return "\n".join([
        f"`qwenchat serve` on the starter model (1 llama.cpp thread) and Debian's headless "
        f"Chromium through Playwright on the same 2 cores. Load: {args.loads} fresh page "
        "loads (nothing cached), bytes transferred (assets gzipped), "
        "time until the model list is in, JS heap after load. Stream: one answer of "
        f"{args.tokens} tokens (greedy, end of generation banned) per client and round, "
        f"{args.rounds} rounds, clients alternating; tokens after the first ÷ time after the "
        "first text, medians. The SDK client renders nothing: the ratio shows what rendering "
        "markdown live costs the stream.",
        "",
        "| page load | median |",
        "|---|---|",
        f"| bytes transferred | {median(b for b, _, _ in loads) / 1024:.0f} KiB |",
        f"| ready (navigation → models listed) | {median(t for _, t, _ in loads):.0f} ms |",
        f"| JS heap after load | {median(h for _, _, h in loads):.1f} MiB |",
        "",
        "| client | tokens | tokens/s | ÷ SDK | main thread ms/token | main thread share |",
        "|---|---|---|---|---|---|",
        f"| playground | {pages[0].tokens} | {page_rate:.1f} | {page_rate / sdk_rate:.2f} | "
        f"{busy_per_token:.2f} | {busy_share:.0%} |",
        f"| openai SDK | {sdks[0].tokens} | {sdk_rate:.1f} | 1.00 | — | — |",
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--loads", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=400)
    parser.add_argument("--write", action="store_true", help="write into BENCHMARKS.md")
    args = parser.parse_args()
    body = run(args)
    print(body)
    if args.write:
        command = " ".join([".venv/bin/python bench/playground.py", *sys.argv[1:]])
        write_section("Playground", command, body)


if __name__ == "__main__":
    main()
