"""`qwenchat` itself: ``qwenchat serve`` in a subprocess, the CLI, API keys, and the official
SDK pointed at a server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import openai

from harness.process import ServiceProcess, answers

QWENCHAT = Path(sys.executable).with_name("qwenchat")


class ServerProcess(ServiceProcess):
    """`qwenchat serve ARGS` with ``QWENCHAT_HOME=home``, logging to ``log_path``; spawned at
    once (enter it, or call :meth:`wait_ready`, to wait until ``/health`` answers 200)."""

    name = "server"
    ready_timeout = 120.0
    poll_interval = 0.2
    log_mode = "wb"
    lingering_is_error = True  # a server that ignores SIGTERM for 20 s is a failure
    process: subprocess.Popen[bytes]  # spawned by the constructor

    def __init__(self, args: list[str], home: Path, log_path: Path,
                 env: dict[str, str] | None = None, port: int | None = None) -> None:
        super().__init__(port=port, workdir=home, log_path=log_path)
        self.url = f"http://127.0.0.1:{self.port}"
        environ = {**(os.environ if env is None else env), "QWENCHAT_HOME": str(home)}
        self.spawn([str(QWENCHAT), "serve", "--port", str(self.port), *args], env=environ,
                   stdin=None)

    def start(self) -> None:
        """Spawned by the constructor."""

    def ping(self) -> bool:
        return answers(f"{self.url}/health")


def sdk(url: str, api_key: str = "sk-test") -> openai.OpenAI:
    """The official SDK pointed at DashScope's compatible-mode path of a server at ``url``."""
    return openai.OpenAI(base_url=f"{url}/compatible-mode/v1", api_key=api_key, max_retries=0,
                         timeout=120)


def run_cli(home: Path, *args: str, env: dict[str, str] | None = None,
            check: bool = True) -> subprocess.CompletedProcess[str]:
    """``qwenchat ARGS`` with ``QWENCHAT_HOME=home``; raises if it fails and ``check``."""
    environ = {**os.environ, **(env or {}), "QWENCHAT_HOME": str(home)}
    result = subprocess.run([str(QWENCHAT), *args], capture_output=True, text=True,
                            env=environ, timeout=120)
    if check and result.returncode != 0:
        raise RuntimeError(f"qwenchat {' '.join(args)} failed:\n{result.stderr}")
    return result


def create_key(home: Path, name: str, *options: str, env: dict[str, str] | None = None) -> str:
    """A new API key's secret, made with ``qwenchat keys create``."""
    return run_cli(home, "keys", "create", "--name", name, *options, env=env).stdout.strip()


def upstream_gateway(home: Path, dialect: str, replica_url: str,
                     models: dict[str, str]) -> ServerProcess:
    """A `qwenchat serve` with no local model, serving ``models`` (served id -> upstream
    name) from one upstream replica of ``dialect`` (enter it to wait until it serves)."""
    config = home / "qwenchat.toml"
    mapping = "\n".join(f'"{model_id}" = "{name}"' for model_id, name in models.items())
    config.write_text(f'[engine]\nmodel = "none"\n[deployments.up]\ndialect = "{dialect}"\n'
                      f'replicas = ["{replica_url}"]\n[deployments.up.models]\n{mapping}\n')
    return ServerProcess(["--config", str(config)], home, home / "gateway.log")
