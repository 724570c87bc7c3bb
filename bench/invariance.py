"""Do a sequence's logits depend on how its tokens were batched? Flash attention on vs off.

Drives the engine's llama.cpp context directly (four sequence slots, per-sequence KV) on the
starter model. For prompts of three lengths it computes the logits of 16 greedy steps after
the prompt the reference way — the prompt read in chunks of 512 — and then in the ways
serving can produce, reporting the largest absolute logit difference (0 = bit-identical):

- ``chunks of 100``: the prompt read in smaller chunks (another load, another chunk size);
- ``last token alone`` / ``last 10 alone``: the prompt's tail read as its own batch (a warm
  prefix: only the new part is read);
- ``tail generated``: the prompt's last 20 tokens decoded one per step, as generated tokens
  are (what reusing a previous answer's cache amounts to);
- ``beside a long sequence``: every step shares its batch with a 1200-token neighbour;
- ``reused slot``: the slot previously held a long sequence, then was cleared (``dirty``),
  or kept its first 3 tokens.

    .venv/bin/python bench/invariance.py [--model PATH] [--threads 2]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common.report import write_section
from qwenchat.catalog import resolve_model_file
from qwenchat.engine.llama import BatchRow, LlamaContext, LlamaModel
from qwenchat.settings import default_home

Logits = npt.NDArray[np.float32]
STEPS = 16
LENGTHS = (90, 290, 690)


class Probe:
    """One context and the ways to fill a slot and run greedy steps."""

    def __init__(self, model: LlamaModel, threads: int, flash_attention: bool) -> None:
        self.model = model
        self.context = LlamaContext(model, n_seq=4, n_ctx_seq=2048, n_batch=512,
                                    n_threads=threads, flash_attention=flash_attention)

    def text(self, sentences: int) -> list[int]:
        return self.model.tokenize(" ".join(
            f"Rule {i} is to be kind and fair to everyone." for i in range(sentences)))

    def fill(self, seq: int, tokens: list[int], sizes: list[int], keep: int = 0) -> dict[int, int]:
        self.context.truncate(seq, keep)
        start, outputs = keep, {}
        for size in sizes:
            end = start + size
            outputs = self.context.decode([BatchRow(seq, tokens[start:end], start,
                                                    end == len(tokens))])
            start = end
        return outputs

    def greedy(self, seq: int, tokens: list[int], sizes: list[int], *, keep: int = 0,
               neighbour: tuple[int, int] | None = None) -> Logits:
        outputs = self.fill(seq, tokens, sizes, keep)
        position, steps = len(tokens), []
        for _ in range(STEPS):
            logits = self.context.logits(outputs[seq])
            steps.append(logits)
            rows = [BatchRow(seq, [int(logits.argmax())], position, True)]
            if neighbour is not None:
                rows.append(BatchRow(neighbour[0], [42], neighbour[1], True))
                neighbour = (neighbour[0], neighbour[1] + 1)
            outputs = self.context.decode(rows)
            position += 1
        return np.stack(steps)


def chunks(total: int, size: int) -> list[int]:
    return [min(size, total - start) for start in range(0, total, size)]


def scenarios(probe: Probe, length: int) -> dict[str, float]:
    prompt = probe.text(length // 10)[:length]
    reference = probe.greedy(0, prompt, chunks(len(prompt), 512))
    long = probe.text(150)[:1200]

    def diff(run: Callable[[], Logits]) -> float:
        return float(np.abs(run() - reference).max())

    def dirty(keep: int) -> Logits:
        probe.fill(3, long, chunks(len(long), 512))
        return probe.greedy(3, prompt, chunks(len(prompt) - keep, 512), keep=keep)

    n = len(prompt)
    results = {
        "chunks of 100": diff(lambda: probe.greedy(1, prompt, chunks(n, 100))),
        "last token alone": diff(lambda: probe.greedy(1, prompt, [*chunks(n - 1, 512), 1])),
        "last 10 alone": diff(lambda: probe.greedy(1, prompt, [*chunks(n - 10, 512), 10])),
        "tail generated": diff(lambda: probe.greedy(1, prompt, chunks(n - 20, 512) + [1] * 20)),
    }
    probe.fill(2, long, chunks(len(long), 512))
    results["beside a long sequence"] = diff(
        lambda: probe.greedy(1, prompt, chunks(n, 512), neighbour=(2, len(long))))
    results["reused slot, cleared"] = diff(lambda: dirty(0))
    results["reused slot, 3 kept"] = diff(lambda: dirty(3))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    model_path = args.model or resolve_model_file("starter", default_home(), say=print)
    model = LlamaModel(model_path)
    table: dict[tuple[bool, int], dict[str, float]] = {}
    for flash in (False, True):
        probe = Probe(model, args.threads, flash)
        for length in LENGTHS:
            table[flash, length] = scenarios(probe, length)
            print(f"flash attention {flash}, prompt {length}: {table[flash, length]}")
        probe.context.close()
    names = list(table[False, LENGTHS[0]])
    columns = [(flash, length) for flash in (False, True) for length in LENGTHS]
    rows = ["| how the tokens were batched | " + " | ".join(
        f"FA {'on' if flash else 'off'}, {length} tok" for flash, length in columns) + " |",
        "|---" * (len(columns) + 1) + "|"]
    for name in names:
        rows.append(f"| {name} | " + " | ".join(
            "0" if table[c][name] == 0 else f"{table[c][name]:.2f}" for c in columns) + " |")
    body = "\n".join([
        f"Largest absolute logit difference over {STEPS} greedy steps against the prompt "
        f"read in 512-token chunks; starter model, {args.threads} threads, per-sequence KV. "
        "0 means bit-identical.", "", *rows])
    write_section("Batching invariance", f"bench/invariance.py --threads {args.threads}", body)
    model.close()


if __name__ == "__main__":
    main()
