"""The long fuzz run: hostile request bodies against a real `qwenchat serve`.

Draws ``--examples`` bodies from ``tests/api/hostile.py`` (random seeds, unlike the
derandomized sample the tests run) and sends each to a server on the starter model (one
llama.cpp thread). Counted: answers by status class, answers that break the contract (a
5xx, or a 4xx outside DashScope's envelope), and deaths (the process gone, or ``/health``
not 200 after a request). The section's numbers must show zero of the last two.

    .venv/bin/python bench/fuzz.py [--examples 10000]
"""

from __future__ import annotations

import argparse
import collections
import sys
import tempfile
import time
from pathlib import Path

import httpx
from hypothesis import HealthCheck, given, settings

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.qwenchat import ServerProcess
from tests.api.hostile import bodies, check_answer

from bench.common.report import write_section
from qwenchat.catalog import resolve_model_file
from qwenchat.settings import default_home

CHAT = "/compatible-mode/v1/chat/completions"


def run(examples: int) -> dict[str, int]:
    counts: collections.Counter[str] = collections.Counter()
    model = resolve_model_file("starter", default_home(), say=print)
    home = Path(tempfile.mkdtemp(prefix="qwenchat-fuzz-"))
    with ServerProcess(["--model", str(model), "--threads", "1"], home,
                       home / "server.log") as server, \
            httpx.Client(base_url=server.url, timeout=120) as http:

        @settings(max_examples=examples, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(body=bodies())
        def one(body: bytes) -> None:
            response = http.post(CHAT, content=body,
                                 headers={"content-type": "application/json"})
            counts[f"{response.status_code // 100}xx"] += 1
            try:
                check_answer(response)
            except AssertionError:
                counts["broken answers"] += 1
                print("broken:", response.status_code, body[:300], response.text[:300])
            if server.process.poll() is not None or http.get("/health").status_code != 200:
                counts["deaths"] += 1
                raise SystemExit(f"the server died:\n{server.log_text()[-3000:]}")
            counts["requests"] += 1

        one()
    return dict(counts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=10_000)
    args = parser.parse_args()
    started = time.monotonic()
    counts = run(args.examples)
    minutes = (time.monotonic() - started) / 60
    lines = ["| requests | 2xx | 4xx | 5xx | broken answers | deaths | minutes |",
             "|---|---|---|---|---|---|---|",
             f"| {counts.get('requests', 0)} | {counts.get('2xx', 0)} | "
             f"{counts.get('4xx', 0)} | {counts.get('5xx', 0)} | "
             f"{counts.get('broken answers', 0)} | {counts.get('deaths', 0)} | {minutes:.1f} |",
             "", "Bodies from tests/api/hostile.py: each field of the request model attacked "
             "(wrong types, out-of-range and huge values, deep nesting, hostile JSON schemas, "
             "GBNF grammars and token ids, 5,000-entry stop lists), plus raw bytes and "
             "truncated JSON; streamed and not. After every request the process must be alive "
             "and /health 200. \"Broken\" is a 5xx or a 4xx outside DashScope's envelope."]
    print("\n".join(lines))
    write_section("Fuzz", f".venv/bin/python bench/fuzz.py --examples {args.examples}",
                  "\n".join(lines))


if __name__ == "__main__":
    main()
