"""What `bench/gateway.py` compares: the server configurations, the scripted reply, the
scale of a run."""

from __future__ import annotations

from dataclasses import dataclass

PROMPT_TOKENS = 20

REPLY = ("Hello", " there", ", how", " are you?")

MODEL = "qwen-plus"

TARGET_MS = 1.0  # issue 6: under 1 ms p50 added with everything on

MODES = ("non-stream", "stream")


@dataclass(frozen=True)
class Setup:
    """One server configuration under test."""

    name: str
    auth: bool = False
    limits: bool = False
    ledger: str = ""  # "", "sqlite" or "postgres"
    redis: bool = False
    engine: bool = False  # the real llama.cpp engine behind `qwenchat serve`


SETUPS = (
    Setup("off"),
    Setup("auth", auth=True),
    Setup("auth-limits", auth=True, limits=True),
    Setup("ledger-sqlite", ledger="sqlite"),
    Setup("on-sqlite", auth=True, limits=True, ledger="sqlite"),
    Setup("on-postgres", auth=True, limits=True, ledger="postgres"),
    Setup("on-sqlite-redis", auth=True, limits=True, ledger="sqlite", redis=True),
    Setup("engine-on-sqlite", auth=True, limits=True, ledger="sqlite", engine=True),
)

BY_NAME = {setup.name: setup for setup in SETUPS}

CONCURRENT = ("off", "on-sqlite", "on-postgres", "on-sqlite-redis")  # run under concurrency


@dataclass(frozen=True)
class Scale:
    requests: int
    warmup: int
    engine_requests: int
    rounds: int
    concurrency: int = 0  # clients of the concurrent runs (0: none)
    concurrent_requests: int = 0  # measured requests of a concurrent run, all clients together

    def counts(self, setup: Setup) -> tuple[int, int]:
        """(warm-up, measured per mode) requests."""
        if setup.engine:
            return max(1, self.warmup // 10), self.engine_requests
        return self.warmup, self.requests
