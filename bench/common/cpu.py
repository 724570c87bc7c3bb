"""CPU time from /proc (Linux): the processes under test, and the neighbours that disturb them.

A process that has exited counts 0 from then on, so sample the pids of a run before its
processes stop.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

BUSY_NEIGHBOURS = 0.2  # cores used by other processes beyond which a run is flagged


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


class NeighbourMeter:
    """CPU used by processes other than the server under test and this client, from /proc
    (Linux): a busy neighbour slows llama.cpp far more than its share of the cores."""

    def __init__(self, server_pid: int | None = None) -> None:
        self._pid = server_pid
        self._start = self._sample()

    @staticmethod
    def _machine_busy() -> float:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
        ticks = [int(value) for value in fields]
        idle = ticks[3] + ticks[4]  # idle, iowait
        return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")

    def _process_busy(self) -> float:
        if self._pid is None:
            return 0.0
        fields = Path(f"/proc/{self._pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def _sample(self) -> tuple[float, float, float, float] | None:
        try:
            return (time.perf_counter(), self._machine_busy(), self._process_busy(),
                    time.process_time())
        except (OSError, ValueError, IndexError):
            return None

    def cores(self) -> float | None:
        """Average cores the neighbours kept busy since the meter started."""
        end = self._sample()
        if self._start is None or end is None:
            return None
        wall, machine, server, client = (b - a for a, b in zip(self._start, end, strict=True))
        return max(0.0, machine - server - client) / wall


def wait_for_quiet(limit: float, note: Callable[[str], None] = print) -> None:
    """Wait (up to ``limit`` seconds) until other processes leave the cores alone; ``note``
    says so if they never do."""
    deadline = time.monotonic() + limit
    waited = False
    while True:
        meter = NeighbourMeter()
        time.sleep(1.0)
        cores = meter.cores()
        if cores is None or cores < BUSY_NEIGHBOURS:
            break
        if time.monotonic() > deadline:
            note(f"the machine stayed busy ({cores:.2f} cores) for {limit:.0f} s; going on")
            break
        if not waited:
            print(f"  waiting for other processes to stop ({cores:.2f} cores busy)")
            waited = True
