"""Which llama.cpp thread count should `qwenchat serve` default to? Measured under load.

For each thread count, a real server streams completions to real HTTP clients on the same
machine (so the event loop, the SSE encoding and the clients compete with llama.cpp for the
cores, as in production on a small box). Reports median decode tokens/s and time to first
token for one client, aggregate tokens/s with two clients at once, and one client's
tokens/s while another process keeps a core busy (a test runner, a build, a second
service). Servers alternate between thread counts over several rounds, since these
machines drift over minutes.

    .venv/bin/python bench/threads.py [--threads 1 2] [--tokens 200] [--rounds 3]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.qwenchat import ServerProcess

from bench.common.decode_stream import stream_decode
from bench.common.report import write_section
from qwenchat.catalog import resolve_model_file
from qwenchat.settings import default_home


def measure(model: Path, threads: int, tokens: int) -> tuple[float, float, float, float]:
    """(ttft ms, 1-client tok/s, 2-client aggregate tok/s, 1-client tok/s beside a busy
    process) for one server run."""
    home = Path("/tmp/qwenchat-bench-home")
    home.mkdir(exist_ok=True)
    server = ServerProcess(["--model", str(model), "--threads", str(threads)], home,
                           home / "server.log")
    try:
        server.wait_ready()
        stream_decode(server.url, 16)
        ttft, speed = stream_decode(server.url, tokens)
        started = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            list(pool.map(lambda _: stream_decode(server.url, tokens), range(2)))
        aggregate = 2 * tokens / (time.perf_counter() - started)
        neighbour = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        try:
            _, busy_speed = stream_decode(server.url, tokens)
        finally:
            neighbour.kill()
            neighbour.wait()
    finally:
        server.stop()
    return ttft * 1000, speed, aggregate, busy_speed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--tokens", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    model = resolve_model_file("starter", default_home(), say=print)
    runs: dict[int, list[tuple[float, float, float, float]]] = {t: [] for t in args.threads}
    for _ in range(args.rounds):
        for threads in args.threads:
            runs[threads].append(measure(model, threads, args.tokens))
    lines = ["| threads | TTFT ms | 1 client tok/s | 2 clients aggregate tok/s "
             "| 1 client beside a busy process, tok/s |", "|---|---|---|---|---|"]
    for threads, results in runs.items():
        medians = [statistics.median(r[i] for r in results) for i in range(4)]
        lines.append(f"| {threads} | " + " | ".join(f"{m:.1f}" for m in medians) + " |")
    lines.append("")
    lines.append(f"Medians of {args.rounds} alternating rounds, {args.tokens} tokens per "
                 f"completion, model {model.name}, {len(args.threads)} settings.")
    print("\n".join(lines))
    command = (f".venv/bin/python bench/threads.py --threads {' '.join(map(str, args.threads))}"
               f" --tokens {args.tokens} --rounds {args.rounds}")
    write_section("Threads", command, "\n".join(lines))


if __name__ == "__main__":
    main()
