"""One way to run a server subprocess: a free port, a log file, a readiness probe, a stop.

:class:`ServiceProcess` is the base of every server the tests and benchmarks start;
a subclass says how to start it (``start``) and how to tell that it answers (``ping``).
:class:`Command` is the plain case: any argv, ready once a URL answers 200.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import IO, Any, TypeVar

import httpx

S = TypeVar("S", bound="ServiceProcess")


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on (now)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def answers(url: str) -> bool:
    """Whether ``url`` answers a GET with 200 within two seconds."""
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


class ServiceProcess:
    """A server subprocess on ``port``, its output in ``log_path``.

    Entering it starts the server (unless already started) and waits until ``ping`` is
    true; a server that never gets there is stopped. Leaving it stops the server:
    ``stop_signal``, then SIGKILL after ``stop_timeout`` seconds. Without a ``workdir`` the
    server gets a fresh temporary directory, removed when it stops.
    """

    name = "server"
    ready_timeout = 60.0
    poll_interval = 0.05
    stop_signal: int = signal.SIGTERM
    stop_timeout = 20.0
    log_mode = "ab"  # "wb": a log path given again starts empty
    lingering_is_error = False  # raise (after the kill) when the server outlives stop_timeout

    def __init__(self, *, port: int | None = None, workdir: Path | None = None,
                 log_path: Path | None = None) -> None:
        self.port = port or free_port()
        self._own_dir = workdir is None
        self.dir = workdir or Path(tempfile.mkdtemp(prefix=f"qwenchat-{self.name}-"))
        self.log_path = log_path or self.dir / f"{self.name}.log"
        self._log: IO[bytes] | None = None
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Spawn the server (subclasses: call :meth:`spawn`)."""
        raise NotImplementedError

    def ping(self) -> bool:
        """Whether the server answers yet."""
        raise NotImplementedError

    def __enter__(self: S) -> S:
        """Start the server and wait until it answers (it is stopped if it never does)."""
        try:
            if self.process is None:
                self.start()
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    @property
    def pid(self) -> int:
        """The server's process id (it must have been started)."""
        if self.process is None:
            raise RuntimeError(f"{self.name} has not been started")
        return self.process.pid

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self, lines: int = 15) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def spawn(self, argv: list[str], **popen: Any) -> subprocess.Popen[bytes]:
        """Run ``argv`` with its output in the log (stdin closed unless ``popen`` says)."""
        if self._log is not None:  # a server started again (a restart keeps the log)
            self._log.close()
            self._log = self.log_path.open("ab")
        else:
            self._log = self.log_path.open(self.log_mode)
        popen.setdefault("stdin", subprocess.DEVNULL)
        self.process = subprocess.Popen(argv, stdout=self._log, stderr=subprocess.STDOUT,
                                        **popen)
        return self.process

    def wait_ready(self, timeout: float | None = None) -> None:
        """Return once ``ping`` is true; raise, with the log, if the server exits first or
        ``timeout`` (default ``ready_timeout``) seconds pass."""
        assert self.process is not None
        limit = self.ready_timeout if timeout is None else timeout
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited:\n{self.log_text()}")
            if self.ping():
                return
            time.sleep(self.poll_interval)
        raise RuntimeError(f"{self.name} not ready after {limit:.0f}s:\n{self.log_text()}")

    def stop(self, sig: int | None = None) -> int | None:
        """Signal the server, kill it if it lingers, close the log and remove a temporary
        directory; the exit status (None if it never started)."""
        try:
            return self._halt(self.stop_signal if sig is None else sig)
        finally:
            if self._log is not None:
                self._log.close()
            if self._own_dir:
                shutil.rmtree(self.dir, ignore_errors=True)

    def _halt(self, sig: int) -> int | None:
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                if self.lingering_is_error:
                    raise
        return self.process.returncode


class Command(ServiceProcess):
    """Any server: ``argv`` (with its ``env`` and Popen options), ready once ``ready_url``
    answers 200."""

    poll_interval = 0.1

    def __init__(self, name: str, argv: list[str], ready_url: str, *,
                 env: dict[str, str] | None = None, port: int | None = None,
                 workdir: Path | None = None, log_path: Path | None = None,
                 ready_timeout: float = 120.0, **popen: Any) -> None:
        self.name = name
        super().__init__(port=port, workdir=workdir, log_path=log_path)
        self.argv, self.ready_url, self.env = argv, ready_url, env
        self.ready_timeout = ready_timeout
        self._popen = popen

    def start(self) -> None:
        self.spawn(self.argv, env=self.env, **self._popen)

    def ping(self) -> bool:
        return answers(self.ready_url)
