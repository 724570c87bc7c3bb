"""A run's fresh processes: the scripted upstream, and the gateway in front of it (qwenchat
with everything on, or the LiteLLM proxy), or none (direct)."""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from harness.process import Command, free_port
from harness.scripted_upstream import MODEL as UPSTREAM_MODEL
from harness.scripted_upstream import ScriptedUpstream

from bench.common.cpu import descendants
from bench.common.keys import UNLIMITED_RPM, UNLIMITED_TPM, ledger_rows, make_key
from bench.common.rawhttp import CHAT_PATH
from bench.upstream_bench.scale import MODEL, Scale
from qwenchat.settings import Settings

ROOT = Path(__file__).resolve().parents[2]



@dataclass(frozen=True)
class Target:
    """Where the client sends chat requests, and the key it sends."""

    port: int
    path: str
    model: str
    secret: str


@dataclass(frozen=True)
class Launch:
    """How to start one gateway."""

    command: list[str]
    env: dict[str, str]
    ready: str  # a URL that answers 200 once the gateway serves
    target: Target
    database_url: str | None = None  # qwenchat's ledger


@dataclass(frozen=True)
class Stack:
    """A run's fresh processes: the upstream, and the gateway in front (none: direct)."""

    upstream: subprocess.Popen[bytes]
    upstream_url: str
    gateway: subprocess.Popen[bytes] | None
    target: Target

    def gateway_pids(self) -> list[int]:
        return descendants(self.gateway.pid) if self.gateway is not None else []


@contextlib.contextmanager
def started(server: Command) -> Iterator[subprocess.Popen[bytes]]:
    """``server``'s process, once it is ready; stopped afterwards (its log printed if the run
    fails)."""
    try:
        with server:
            assert server.process is not None
            yield server.process
    except BaseException:
        print(f"  log {server.log_path}:\n{server.log_text()[-3000:]}")
        raise


@contextlib.contextmanager
def stack(front: str, home: Path, scale: Scale, litellm: Path | None) -> Iterator[Stack]:
    home.mkdir(parents=True)
    scripted = ScriptedUpstream(home / "upstream.log", scale.chunks)
    with contextlib.ExitStack() as processes:
        upstream = processes.enter_context(started(scripted))
        if front == "direct":
            yield Stack(upstream, scripted.url, None,
                        Target(scripted.port, "/v1/chat/completions", UPSTREAM_MODEL,
                               "sk-unused"))
            return
        replica = f"{scripted.url}/v1"
        if front == "qwenchat":
            launch = qwenchat_launch(home, replica)
        else:
            assert litellm is not None
            launch = litellm_launch(home, replica, litellm, with_key=front == "litellm-key")
        gateway = processes.enter_context(started(Command(
            front, launch.command, launch.ready, env=launch.env, port=launch.target.port,
            workdir=home, log_path=home / "gateway.log", ready_timeout=180.0)))
        yield Stack(upstream, scripted.url, gateway, launch.target)
    if front == "qwenchat":  # stopped: the ledger has every row it will get
        check_ledger(home, scale)


QWENCHAT_CONFIG = """\
[server]
log_level = "warning"  # no access log line per request

[engine]
model = "none"

[models."{model}"]
rpm = {rpm}
tpm = {tpm}

[deployments.up]
dialect = "openai"
replicas = ["{replica}"]

[deployments.up.models]
"{model}" = "{upstream_model}"
"""


def qwenchat_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QWENCHAT_")}
    return env | {"QWENCHAT_HOME": str(home), "QWENCHAT_AUTH": "required",
                  "QWENCHAT_KEY_RPM": str(UNLIMITED_RPM), "QWENCHAT_KEY_TPM": str(UNLIMITED_TPM)}


def qwenchat_launch(home: Path, replica: str) -> Launch:
    """Everything on: keys, limits (never refusing), the ledger on SQLite."""
    config = home / "qwenchat.toml"
    config.write_text(QWENCHAT_CONFIG.format(model=MODEL, upstream_model=UPSTREAM_MODEL,
                                             replica=replica, rpm=UNLIMITED_RPM,
                                             tpm=UNLIMITED_TPM))
    env = qwenchat_env(home)
    database_url = Settings.load(config, env=env).database_url()
    secret = make_key(database_url, limits=True)  # its own limits, never refusing
    port = free_port()
    command = [str(Path(sys.executable).with_name("qwenchat")), "serve", "--config",
               str(config), "--port", str(port), "--log-level", "warning"]
    return Launch(command, env, f"http://127.0.0.1:{port}/health",
                  Target(port, CHAT_PATH, MODEL, secret), database_url)


def check_ledger(home: Path, scale: Scale) -> None:
    config = home / "qwenchat.toml"
    rows = ledger_rows(Settings.load(config, env=qwenchat_env(home)).database_url())
    if rows != scale.num_sent():
        raise RuntimeError(f"qwenchat: {rows} ledger rows for {scale.num_sent()} requests")


def litellm_launch(home: Path, replica: str, litellm: Path, with_key: bool) -> Launch:
    """The proxy without a database; ``with_key``: a master key it checks."""
    config = home / "litellm.yaml"
    lines = ["model_list:", f"  - model_name: {MODEL}", "    litellm_params:",
             f"      model: openai/{UPSTREAM_MODEL}", f"      api_base: {replica}",
             "      api_key: sk-upstream-unused"]
    secret = f"sk-{secrets.token_hex(32)}" if with_key else "sk-unused"
    if with_key:
        lines += ["general_settings:", f"  master_key: {secret}"]
    config.write_text("\n".join(lines) + "\n")
    # Only what it needs: no credentials of this machine's user, no cost map from the network.
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home),
           "LANG": "C.UTF-8", "LITELLM_LOG": "WARNING", "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    if not with_key:  # it refuses to start without a master key unless told this
        env["LITELLM_DANGEROUSLY_PERMIT_WEAK_OR_UNSET_MASTER_KEY"] = "true"
    port = free_port()
    command = [str(litellm), "--config", str(config), "--host", "127.0.0.1", "--port", str(port)]
    return Launch(command, env, f"http://127.0.0.1:{port}/health/liveliness",
                  Target(port, "/v1/chat/completions", MODEL, secret))


def litellm_binary() -> Path:
    """The pinned LiteLLM proxy (installed on first use by scripts/litellm.sh)."""
    output = subprocess.run(["bash", str(ROOT / "scripts" / "litellm.sh")], check=True,
                            capture_output=True, text=True)
    return Path(output.stdout.strip().splitlines()[-1])
