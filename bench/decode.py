"""Single-stream decode speed and time to first token: `qwenchat serve` vs llama-cpp-python.

Both sides run the same GGUF with the same thread count and the same prompt (the chat
template rendered by qwenchat), greedy, with end-of-generation banned so every run produces
exactly ``--tokens`` tokens. Runs are interleaved (A, B, A, B, ...) because these machines
drift over minutes; medians are reported with the qwenchat/direct ratio, and the table is
written into BENCHMARKS.md under "Decode".

    .venv/bin/python bench/decode.py [--model PATH] [--threads 1] [--tokens 256] [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.qwenchat import ServerProcess

from bench.common.decode_stream import MESSAGES, stream_decode
from bench.common.report import write_section
from qwenchat.catalog import resolve_model_file
from qwenchat.settings import default_home


def run_direct(model: Path, threads: int, prompt: str, tokens: int,
               eos: int) -> tuple[float, float]:
    """(ttft seconds, decode tokens/s) driving llama-cpp-python's Llama directly."""
    from llama_cpp import Llama

    llm = Llama(model_path=str(model), n_ctx=2048, n_threads=threads, n_threads_batch=threads,
                verbose=False)
    started = time.perf_counter()
    stamps: list[float] = []
    for _ in llm.create_completion(prompt, max_tokens=tokens, temperature=0, stream=True,
                                   logit_bias={eos: -100.0}):
        stamps.append(time.perf_counter())
    llm.close()
    return stamps[0] - started, (len(stamps) - 1) / (stamps[-1] - stamps[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--tokens", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    model = args.model or resolve_model_file("starter", default_home(), say=print)

    from llama_cpp import Llama

    from qwenchat.chat import ChatTemplate
    from qwenchat.core import Message, Role

    probe = Llama(model_path=str(model), n_ctx=256, verbose=False, vocab_only=True)
    template = ChatTemplate(probe.metadata.get("tokenizer.chat_template"))
    eos = probe.token_eos()
    probe.close()
    prompt = template.render([Message(Role.USER, MESSAGES[0]["content"])])

    home = Path("/tmp/qwenchat-bench-home")
    home.mkdir(exist_ok=True)
    server = ServerProcess(["--model", str(model), "--threads", str(args.threads)], home,
                           home / "server.log")
    results: dict[str, list[tuple[float, float]]] = {"direct": [], "qwenchat": []}
    try:
        server.wait_ready()
        stream_decode(server.url, 16)  # warm-up
        for _ in range(args.rounds):
            results["direct"].append(run_direct(model, args.threads, prompt, args.tokens, eos))
            results["qwenchat"].append(stream_decode(server.url, args.tokens))
    finally:
        server.stop()

    rows = []
    for name, runs in results.items():
        ttft = statistics.median(run[0] for run in runs) * 1000
        speed = statistics.median(run[1] for run in runs)
        rows.append((name, ttft, speed))
    ratio = rows[1][2] / rows[0][2]
    table = [
        "| path | TTFT ms (median) | decode tok/s (median) |",
        "|---|---|---|",
        *[f"| {name} | {ttft:.1f} | {speed:.1f} |" for name, ttft, speed in rows],
        "",
        f"qwenchat / direct decode ratio: **{ratio:.3f}** "
        f"({args.rounds} interleaved rounds, {args.tokens} tokens, {args.threads} thread(s), "
        f"model {model.name})",
    ]
    print("\n".join(table))
    command = (f".venv/bin/python bench/decode.py --threads {args.threads} "
               f"--tokens {args.tokens} --rounds {args.rounds}")
    write_section("Decode", command, "\n".join(table))


if __name__ == "__main__":
    main()
