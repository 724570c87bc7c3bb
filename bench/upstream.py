"""Upstream gateway overhead: qwenchat and the LiteLLM proxy in front of the same upstream.

One scripted OpenAI-compatible upstream (harness/scripted_upstream.py: a fixed reply of
``--chunks`` pieces, 10-25 µs of CPU a request) is reached four ways, its *fronts*:

- direct: the client talks to the upstream itself (the baseline);
- qwenchat: ``qwenchat serve`` with ``[engine] model = "none"`` and one ``openai``-dialect
  deployment mapping qwen-plus to the upstream, with everything on: keys required (one key),
  per-key and model-wide rpm/tpm windows and the key's token quota (set far above what the
  run uses, so every request is checked and charged and none refused), and the usage ledger
  on SQLite, which must hold one row per request at the end;
- litellm: the LiteLLM proxy (``litellm --config``, one ``openai/fake-model`` entry whose
  ``api_base`` is the upstream) without a database, so without virtual keys, budgets or
  spend logs: it only routes;
- litellm-key: the same with a ``master_key``, the one key LiteLLM checks without a database.

LiteLLM comes from scripts/litellm.sh (a pinned litellm[proxy], plus httptools, in its own
virtual environment) and runs with ``LITELLM_LOG=WARNING`` (no access-log line per request,
as qwenchat at ``--log-level warning``) and a scrubbed environment.

A run is one front on fresh processes (upstream, and the gateway in front): its own
``QWENCHAT_HOME``, database and key, or LiteLLM config. Three phases, in this order:

1. sequential: one keep-alive client, warm-up, then ``--requests`` non-stream requests one
   at a time; latency from sending to the answer's last byte;
2. concurrent: ``--concurrency`` keep-alive clients, warm-up, then ``--concurrent-requests``
   non-stream requests in all, each client sending its next as soon as its last is answered;
   requests/s, and the gateway's CPU (utime + stime from /proc, summed over its process
   tree) ÷ wall time = the cores it used, so requests/s ÷ cores used = requests/s per core;
3. streaming: the upstream waits ``--chunk-delay-ms`` before each chunk (each is its own
   write) and stamps each piece's content with the moment it wrote it (CLOCK_MONOTONIC,
   which every process on the machine shares); ``--streams`` streamed requests with
   ``include_usage``, one at a time, each read as it arrives; a piece's delay is the moment
   the client read it minus its stamp.

The client is bench/common/rawhttp.py's minimal HTTP/1.1 one on asyncio streams (httpx
would cost several times a gateway's CPU per request on these shared cores); a stream is
read raw to EOF (``Connection: close``) and its stamps found in the bytes. Every answer must
be a 200, every stream must end with ``[DONE]`` and carry every piece, and the upstream must have
answered exactly the requests sent. Fronts alternate within each round (order rotated per
round); tables report medians over rounds, and "added" is the median over rounds of the
difference to ``direct`` in the same round.

Nothing is pinned to a core: with two cores and three busy processes (client, gateway,
upstream) plus the machine's other work, pinning isolates nothing and only stops the
scheduler from moving a process off a busy core.

    .venv/bin/python bench/upstream.py [--requests 2000] [--rounds 3] [--warmup 200]
        [--concurrency 32] [--concurrent-requests 4000] [--streams 100] [--chunks 16]
        [--chunk-delay-ms 5] [--fronts direct,qwenchat,litellm,litellm-key] [--write]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common.report import write_section
from bench.upstream_bench.fronts import litellm_binary
from bench.upstream_bench.runs import run_rounds
from bench.upstream_bench.scale import FRONTS, LITELLMS, Scale
from bench.upstream_bench.tables import report


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="one client, per run")
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--concurrent-requests", type=int, default=4000,
                        help="measured requests per run under concurrency, all clients together")
    parser.add_argument("--streams", type=int, default=100, help="streamed requests per run")
    parser.add_argument("--chunks", type=int, default=16, help="content pieces per reply")
    parser.add_argument("--chunk-delay-ms", type=float, default=5.0,
                        help="the upstream's wait before each streamed chunk")
    parser.add_argument("--fronts", default=",".join(FRONTS),
                        help=f"comma-separated subset of {','.join(FRONTS)}")
    parser.add_argument("--write", action="store_true", help="write the tables to BENCHMARKS.md")
    args = parser.parse_args()
    fronts = [front for front in FRONTS if front in args.fronts.split(",")]
    unknown = set(args.fronts.split(",")) - set(FRONTS)
    if unknown:
        parser.error(f"unknown fronts: {', '.join(sorted(unknown))}")
    scale = Scale(args.requests, args.warmup, args.rounds, args.concurrency,
                  args.concurrent_requests, args.streams, args.chunks, args.chunk_delay_ms)
    litellm = litellm_binary() if set(fronts) & set(LITELLMS) else None
    workdir = Path(tempfile.mkdtemp(prefix="qwenchat-upstream-"))
    results = run_rounds(fronts, scale, workdir, litellm)
    body = report(results, scale)
    print(f"\n{body}\n\nLogs: {workdir}")
    if args.write:
        command = (f".venv/bin/python bench/upstream.py --requests {args.requests} "
                   f"--rounds {args.rounds} --warmup {args.warmup} --concurrency "
                   f"{args.concurrency} --concurrent-requests {args.concurrent_requests} "
                   f"--streams {args.streams} --chunks {args.chunks} --chunk-delay-ms "
                   f"{args.chunk_delay_ms:g}"
                   + ("" if fronts == list(FRONTS) else f" --fronts {','.join(fronts)}")
                   + " --write")
        write_section("Upstream gateway overhead", command, body)


if __name__ == "__main__":
    main()
