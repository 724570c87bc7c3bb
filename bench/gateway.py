"""Gateway benchmark: what API keys, rate limits and the usage ledger add to each request.

The same chat requests go to servers that differ only in what the gateway does, so the
differences in latency and CPU are the gateway's. To keep token generation (10-100 ms and
noisy on 2 cores) out of the numbers, these servers answer from a scripted ChatService: the
real catalog, request checks and gateway calls (``admit`` with 20 prompt tokens), then four
ContentDeltas, a Finish and the Usage, with no model behind them. Configurations:

- off: auth none, no limits, a ledger that records nothing (the baseline; the Prometheus
  metrics stay, they cannot be turned off);
- auth: keys required (one key, no limits), no ledger;
- auth-limits: plus per-key and model-wide rpm/tpm windows and the key's token quota, set
  far above what the run uses, so every request is checked and charged and none refused;
- ledger-sqlite: the SQLite ledger alone (auth none, no limits);
- on-sqlite, on-postgres, on-sqlite-redis: everything on, the ledger on SQLite or
  PostgreSQL, the rate-limit counters in process or in Redis;
- engine-on-sqlite: everything on in front of the real engine (``qwenchat serve``, starter
  model, one-token completions), for the scale of a real request.

Each server runs fresh (its own ``QWENCHAT_HOME``, database and key) as a subprocess: this
script's ``serve`` command, or ``qwenchat serve`` for the engine. One keep-alive client
warms it up, then sends N non-stream requests, then N streamed ones (``include_usage``), one
at a time. Latency is the client's time from sending to the response's last byte; server
CPU is the server process's utime + stime from /proc over each phase ÷ requests, and
database CPU the same for the PostgreSQL or Redis processes. Every response must be a 200,
and an ``on`` run's ledger must hold one row per request before the server stops.
Configurations alternate within each round (order rotated per round, fresh servers); the
table reports medians over rounds, and "added" is the median over rounds of the
difference to ``off`` in the same round. Servers log at ``warning`` (no access-log line per
request); their logs stay in a temporary directory. Last, to see where the ledger's time
goes, one row's commit is timed alone from this script: a bare insert + commit, and the same
through ``Ledger.record``.

A lone sequential client cannot show the ledger's group commit (the writer commits every row
waiting in one transaction), so each round also runs off, on-sqlite, on-postgres and
on-sqlite-redis on fresh servers under ``--concurrency`` clients: one keep-alive connection
each, warm-up, then ``--concurrent-requests`` non-stream requests in all, each client sending
its next as soon as its last is answered. Reported: requests/s, its ratio to ``off`` in the
same round, p50/p99 latency, server, database and client CPU per request, and rows per
ledger commit (the server answers ``Ledger.num_commits`` over a pipe before and after the
phase). The client speaks minimal HTTP/1.1 on asyncio streams: httpx.AsyncClient costs
several times the server's CPU per request, and the client shares the cores.

PostgreSQL and Redis come from harness/services.py (scripts/services.sh installs them); the
PostgreSQL cluster runs with its default durability (``fsync``, ``synchronous_commit``).

    .venv/bin/python bench/gateway.py [--requests 2000] [--rounds 3] [--warmup 200]
        [--engine-requests 200] [--concurrency 32] [--concurrent-requests 4000]
        [--configs off,auth,...] [--write]
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.services import PostgresServer, RedisServer

from bench.common.report import write_section
from bench.gateway_bench.commits import commit_table
from bench.gateway_bench.rounds import run_rounds
from bench.gateway_bench.scripted_server import serve
from bench.gateway_bench.servers import Services
from bench.gateway_bench.setups import BY_NAME, CONCURRENT, SETUPS, Scale
from bench.gateway_bench.tables import report
from qwenchat.catalog import resolve_model_file
from qwenchat.settings import default_home


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    commands = parser.add_subparsers(dest="command")
    server = commands.add_parser("serve", help="run one configuration's scripted server")
    server.add_argument("--config-name", required=True, choices=list(BY_NAME))
    server.add_argument("--port", type=int, required=True)
    server.add_argument("--config", type=Path, required=True)
    server.add_argument("--commits-fd", type=int, help="answer commit counts (see serve)")
    parser.add_argument("--requests", type=int, default=2000, help="per mode and run")
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--engine-requests", type=int, default=200,
                        help="per mode and run of engine-on-sqlite")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=32,
                        help=f"clients of the concurrent runs ({', '.join(CONCURRENT)}); 0: none")
    parser.add_argument("--concurrent-requests", type=int, default=4000,
                        help="measured requests per concurrent run, all clients together")
    parser.add_argument("--configs", default=",".join(BY_NAME),
                        help=f"comma-separated subset of {','.join(BY_NAME)}")
    parser.add_argument("--write", action="store_true", help="write the table to BENCHMARKS.md")
    args = parser.parse_args()
    if args.command == "serve":
        serve(BY_NAME[args.config_name], args.port, args.config, args.commits_fd)
        return
    unknown = set(args.configs.split(",")) - set(BY_NAME)
    if unknown:
        parser.error(f"unknown configs: {', '.join(sorted(unknown))}")
    setups = [s for s in SETUPS if s.name in args.configs.split(",")]
    loaded = [s for s in setups if s.name in CONCURRENT] if args.concurrency > 0 else []
    scale = Scale(args.requests, args.warmup, args.engine_requests, args.rounds,
                  args.concurrency, args.concurrent_requests)
    model = resolve_model_file("starter", default_home(), say=print)
    workdir = Path(tempfile.mkdtemp(prefix="qwenchat-gateway-"))
    with contextlib.ExitStack() as stack:
        services = Services(
            postgres=stack.enter_context(PostgresServer())
            if any(s.ledger == "postgres" for s in setups) else None,
            redis=stack.enter_context(RedisServer()) if any(s.redis for s in setups) else None)
        results, loads = run_rounds(setups, loaded, model, services, scale, workdir)
        commits = commit_table(setups, services, workdir)
    body = report(setups, results, scale, commits, loaded, loads)
    print(f"\n{body}\n\nServer logs: {workdir}")
    if args.write:
        command = (f".venv/bin/python bench/gateway.py --requests {args.requests} "
                   f"--rounds {args.rounds} --warmup {args.warmup} "
                   f"--engine-requests {args.engine_requests} --concurrency {args.concurrency}"
                   + (f" --concurrent-requests {args.concurrent_requests}" if loaded else "")
                   + ("" if args.configs == ",".join(BY_NAME) else f" --configs {args.configs}")
                   + " --write")
        write_section("Gateway overhead", command, body)


if __name__ == "__main__":
    main()
