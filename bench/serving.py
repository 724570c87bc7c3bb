"""Serving benchmark: `qwenchat serve` vs llama-server vs llama-cpp-python's server.

All three serve the same GGUF over the OpenAI chat API with the same llama.cpp thread count
(and, where they batch, the same slot count), and are driven by the same streaming HTTP
client: greedy, end of generation banned (``logit_bias``) so every completion produces
exactly the tokens asked for. Four workloads, each selectable:

- single: one stream at a time; decode tokens/s and prefill tokens/s (~1000-token prompt).
- concurrency: 1, 2, 4, 8 clients sending requests back to back; aggregate tokens/s and
  TTFT percentiles, plus qwenchat's own ``overhead_fraction`` from ``/health``.
- multiturn: 8 users × 6 turns over a shared ~300-token system prompt; TTFT per turn for
  qwenchat (exact reuse, the default), qwenchat reusing generated tokens too
  (``QWENCHAT_PREFIX_CACHE=full``), qwenchat without prefix reuse (``off``) and llama-server.
- roofline: numpy memory bandwidth ÷ GGUF size = a decode ceiling; each engine's
  single-stream decode as a share of it.

qwenchat runs twice where speed is compared: as configured by default (flash attention off,
for batch-invariant outputs) and with ``QWENCHAT_FLASH_ATTENTION=true``.

Every server runs alone on a fresh process per (workload, round, engine); engines alternate
within each round (order rotated every round) because these machines drift ±15% over
minutes, and the tables report medians over rounds and qwenchat ÷ peer ratios. Each
workload's table goes into BENCHMARKS.md (not with ``--quick``, a smoke run that only
prints). Server logs stay in a temporary directory, printed at the end.

llama-server comes from ``scripts/llama_server.sh`` (same llama.cpp commit as
qwenchat). llama-cpp-python's server needs its extras, installed into .venv with
``.venv/bin/python -m pip install sse-starlette starlette-context pydantic-settings``; it is
started with ``--interrupt_requests False`` (by default a new request cancels the stream in
progress, which breaks concurrent clients) and serves one request at a time.

    .venv/bin/python bench/serving.py [--model PATH] [--rounds 3] [--quick]
        [--workloads single,concurrency,multiturn,roofline]
        [--threads 2] [--slots 4] [--context-size 2048] [--tokens 128]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.services import llama_server_binary

from bench.common.cpu import BUSY_NEIGHBOURS
from bench.common.report import write_section
from bench.serving_bench.client import oddities
from bench.serving_bench.concurrency import run_concurrency
from bench.serving_bench.context import Bench, Scale, Section, command_line
from bench.serving_bench.engines import Config
from bench.serving_bench.multiturn import run_multiturn
from bench.serving_bench.prompts import Tokenizer
from bench.serving_bench.roofline import run_roofline
from bench.serving_bench.single import run_single
from qwenchat.catalog import resolve_model_file
from qwenchat.settings import default_home

WORKLOADS = ("single", "concurrency", "multiturn", "roofline")
RUNNERS: dict[str, Callable[[Bench], Section]] = {
    "single": run_single, "concurrency": run_concurrency,
    "multiturn": run_multiturn, "roofline": run_roofline,
}


def section_title(title: str, config: Config, model_arg: str | None) -> str:
    """``title`` qualified by thread count (and model, when not the starter), so runs with
    other settings get their own BENCHMARKS.md sections."""
    threads = f"{config.threads} thread" + ("s" if config.threads != 1 else "")
    return f"{title} ({threads}{', ' + config.model.stem if model_arg else ''})"

def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--model", type=Path, default=None,
                        help="GGUF file [default: the starter model]")
    parser.add_argument("--workloads", default=",".join(WORKLOADS),
                        help=f"comma-separated subset of {','.join(WORKLOADS)}")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--slots", type=int, default=4)
    parser.add_argument("--context-size", type=int, default=2048)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--eos-token-id", type=int, default=2,
                        help="banned with logit_bias so every completion runs to max_tokens "
                             "[default: 2, the starter's <|im_end|>]")
    parser.add_argument("--llama-server", type=Path, default=None,
                        help="llama-server binary [default: from scripts/llama_server.sh]")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: one round, fewer tokens and users; prints only")
    args = parser.parse_args()
    unknown = set(args.workloads.split(",")) - set(WORKLOADS)
    if unknown:
        parser.error(f"unknown workloads: {', '.join(sorted(unknown))}")
    return args

def main() -> None:
    args = parse_args()
    workloads = [w for w in WORKLOADS if w in args.workloads.split(",")]
    model = args.model or resolve_model_file("starter", default_home(), say=print)
    workdir = Path(tempfile.mkdtemp(prefix="qwenchat-serving-"))
    (workdir / "home").mkdir()
    config = Config(model=model.resolve(), threads=args.threads, slots=args.slots,
                    context_size=args.context_size, eos_token_id=args.eos_token_id,
                    llama_server=args.llama_server or llama_server_binary(), workdir=workdir)
    scale = Scale(rounds=args.rounds, tokens=args.tokens)
    bench = Bench(config, scale.quick() if args.quick else scale, Tokenizer(config.model))
    for workload in workloads:
        section = RUNNERS[workload](bench)
        if bench.disturbed[workload]:
            section = replace(section, body=section.body + (
                f"\n\nCaution: in {bench.disturbed[workload]} server run(s) other processes "
                f"kept more than {BUSY_NEIGHBOURS} cores busy; rerun on a quiet machine."))
        title = section_title(section.title, config, args.model)
        print(f"\n## {title}\n\n{section.body}\n")
        if not args.quick:
            write_section(title, command_line(workload, bench, args.model), section.body)
    if oddities:
        print("Notes (count):")
        for message, count in oddities.most_common():
            print(f"  {count}× {message}")
    print(f"Server logs: {workdir}")


if __name__ == "__main__":
    main()
