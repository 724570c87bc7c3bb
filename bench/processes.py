"""CPU time of processes under test, from /proc (Linux): the benchmarks' per-request CPU.

A process that has exited counts 0 from then on, so sample the pids of a run before its
processes stop.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Sequence
from pathlib import Path


def process_cpu(pids: Sequence[int]) -> float:
    """utime + stime of ``pids`` (all their threads), in seconds; gone processes count 0."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def _parents() -> dict[int, int]:
    """Every live process's parent."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                parents[int(entry.name)] = int(
                    (entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
    return parents


def children(pid: int) -> list[int]:
    """``pid`` and its direct children (PostgreSQL's backends and workers)."""
    return [pid, *(child for child, parent in _parents().items() if parent == pid)]


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it (a server's workers and their helpers)."""
    parents = _parents()
    found, frontier = [pid], [pid]
    while frontier:
        below = [child for child, parent in parents.items() if parent in frontier]
        found += below
        frontier = below
    return found


def stop(process: subprocess.Popen[bytes]) -> None:
    """Terminate ``process``, kill it if it lingers 30 s, and reap it."""
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
