"""The servers `bench/serving.py` compares: how each is started, when it is ready, which
model id it answers to."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness.process import Command, free_port


@dataclass(frozen=True)
class Config:
    """What every server is started with."""

    model: Path
    threads: int
    slots: int
    context_size: int
    eos_token_id: int
    llama_server: Path
    workdir: Path


@dataclass(frozen=True)
class Engine:
    """One server under test: how to start it, when it is ready, how to call it."""

    name: str
    command: Callable[[Config, int], list[str]]
    ready_path: str
    model_id: str = "benchmark"
    env: tuple[tuple[str, str], ...] = ()
    serial: bool = False  # serves one request at a time


def _qwenchat_command(config: Config, port: int) -> list[str]:
    return [str(Path(sys.executable).with_name("qwenchat")), "serve",
            "--model", str(config.model), "--port", str(port),
            "--threads", str(config.threads), "--slots", str(config.slots),
            "--context-size", str(config.context_size)]


def _llama_server_command(config: Config, port: int) -> list[str]:
    threads = str(config.threads)
    return [str(config.llama_server), "-m", str(config.model), "--port", str(port),
            "-t", threads, "-tb", threads, "-np", str(config.slots),
            "-c", str(config.context_size * config.slots), "--no-webui"]


def _llama_cpp_python_command(config: Config, port: int) -> list[str]:
    threads = str(config.threads)
    return [sys.executable, "-m", "llama_cpp.server", "--model", str(config.model),
            "--port", str(port), "--n_threads", threads, "--n_threads_batch", threads,
            "--n_ctx", str(config.context_size), "--interrupt_requests", "False"]


QWENCHAT = Engine("qwenchat", _qwenchat_command, "/health", model_id="qwen-plus")

QWENCHAT_FULL_REUSE = Engine("qwenchat (full reuse)", _qwenchat_command, "/health",
                             model_id="qwen-plus", env=(("QWENCHAT_PREFIX_CACHE", "full"),))

QWENCHAT_NO_REUSE = Engine("qwenchat (no reuse)", _qwenchat_command, "/health",
                           model_id="qwen-plus", env=(("QWENCHAT_PREFIX_CACHE", "off"),))

LLAMA_SERVER = Engine("llama-server", _llama_server_command, "/health")

LLAMA_CPP_PYTHON = Engine("llama-cpp-python", _llama_cpp_python_command, "/v1/models",
                          serial=True)

QWENCHAT_FLASH = Engine("qwenchat (flash attention)", _qwenchat_command, "/health",
                        model_id="qwen-plus", env=(("QWENCHAT_FLASH_ATTENTION", "true"),))

PEERS = (QWENCHAT, QWENCHAT_FLASH, LLAMA_SERVER, LLAMA_CPP_PYTHON)


class Server(Command):
    """One engine's server on a free port, logging to a file in the work dir (entering it
    starts it and waits until it is ready)."""

    def __init__(self, engine: Engine, config: Config) -> None:
        port = free_port()
        slug = engine.name.replace(" ", "-").strip("()")
        env = {key: value for key, value in os.environ.items()
               if not key.startswith("QWENCHAT_")}
        env.update({"QWENCHAT_HOME": str(config.workdir / "home"), **dict(engine.env)})
        root = f"http://127.0.0.1:{port}"
        super().__init__(engine.name, engine.command(config, port), root + engine.ready_path,
                         env=env, port=port, workdir=config.workdir,
                         log_path=config.workdir / f"{slug}-{port}.log")
        self.engine = engine
        self.root = root
        self.base_url = f"{root}/v1"
