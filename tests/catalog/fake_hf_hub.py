"""A small Hugging Face hub on 127.0.0.1 for the real ``hf_hub_download`` path, no network.

It answers what huggingface_hub's ``hf_hub_download`` asks for a file: ``HEAD`` then ``GET``
of ``/{repo_id}/resolve/{revision}/{filename}``, with the headers the real hub sends for an
LFS file (``X-Repo-Commit``, ``ETag`` / ``X-Linked-Etag`` = the file's sha256,
``X-Linked-Size``, ``Content-Length``); a file it does not hold is a 404 with
``X-Error-Code: EntryNotFound``, any other path a plain 404 (huggingface_hub may also ask
``/api/agent-harnesses``, and copes with a 404). A file can advertise a wrong sha256 to play a
corrupted download. Every request is recorded.

Because huggingface_hub reads ``HF_ENDPOINT``, ``HF_HOME`` and ``HF_HUB_OFFLINE`` when it is
imported, code that talks to this hub runs in a fresh interpreter (:func:`run_python`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import struct
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from qwenchat.catalog import QWEN_FILES

SRC = Path(__file__).resolve().parents[2] / "src"
COMMIT = "3c5b2e9a6f0d4b1e8a7c6d5e4f3a2b1c0d9e8f7a"


def tiny_gguf(name: str) -> bytes:
    """A valid GGUF v3 file with no tensors and a few metadata entries (a few hundred bytes)."""

    def text(value: str) -> bytes:
        data = value.encode()
        return struct.pack("<Q", len(data)) + data

    entries = [
        text("general.architecture") + struct.pack("<I", 8) + text("qwen3"),
        text("general.name") + struct.pack("<I", 8) + text(name),
        text("general.alignment") + struct.pack("<I", 4) + struct.pack("<I", 32),
        text("qwen3.context_length") + struct.pack("<I", 4) + struct.pack("<I", 4096),
    ]
    header = b"GGUF" + struct.pack("<IQQ", 3, 0, len(entries))
    return header + b"".join(entries)


@dataclass
class HostedFile:
    body: bytes
    etag: str  # what the hub advertises; the body's sha256 unless playing corruption


@dataclass
class FakeHub:
    """The hub's files by ``(repo_id, filename)``, and the requests it has seen."""

    files: dict[tuple[str, str], HostedFile] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    url: str = ""

    def add(self, repo_id: str, filename: str, body: bytes, *, etag: str | None = None) -> None:
        self.files[(repo_id, filename)] = HostedFile(body, etag or hashlib.sha256(body).hexdigest())

    def lookup(self, path: str) -> HostedFile | None:
        parts = path.split("?")[0].strip("/").split("/")
        if len(parts) < 5 or parts[2] != "resolve":
            return None
        repo_id, filename = "/".join(parts[:2]), "/".join(parts[4:])
        return self.files.get((repo_id, filename))

    def resolve_requests(self) -> list[tuple[str, str]]:
        return [(method, path) for method, path in self.requests if "/resolve/" in path]


def _handler(hub: FakeHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_HEAD(self) -> None:
            self._answer(with_body=False)

        def do_GET(self) -> None:
            self._answer(with_body=True)

        def _answer(self, *, with_body: bool) -> None:
            hub.requests.append((self.command, self.path))
            if "/resolve/" not in self.path:
                self._missing(None)
                return
            hosted = hub.lookup(self.path)
            if hosted is None:
                self._missing("EntryNotFound")
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(hosted.body)))
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("ETag", f'"{hosted.etag}"')
            self.send_header("X-Linked-Etag", f'"{hosted.etag}"')
            self.send_header("X-Linked-Size", str(len(hosted.body)))
            self.send_header("X-Repo-Commit", COMMIT)
            self.end_headers()
            if with_body:
                self.wfile.write(hosted.body)

        def _missing(self, error_code: str | None) -> None:
            body = b'{"error":"not found"}'
            self.send_response(404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            if error_code is not None:
                self.send_header("X-Error-Code", error_code)
                self.send_header("X-Repo-Commit", COMMIT)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            """Keep the test output quiet."""

    return Handler


class RunningHub:
    """A :class:`FakeHub` served on a free port of 127.0.0.1 until :meth:`close`."""

    def __init__(self, hub: FakeHub) -> None:
        self.hub = hub
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(hub))
        self._server.daemon_threads = True
        hub.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


@contextlib.contextmanager
def serving(*aliases: str) -> Iterator[FakeHub]:
    """A running fake hub hosting a tiny GGUF for each Qwen alias in ``aliases``."""
    fake = FakeHub()
    for alias in aliases:
        hosted = QWEN_FILES[alias]
        fake.add(hosted.repo_id, hosted.filename, tiny_gguf(alias))
    running = RunningHub(fake)
    try:
        yield fake
    finally:
        running.close()


def hub_env(hub_url: str, hf_home: Path, qwenchat_home: Path, **extra: str) -> dict[str, str]:
    """The environment of a fresh interpreter that talks to the fake hub only."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("HF_", "HUGGINGFACE_")) and key != "QWENCHAT_HOME"
    }
    env.update(
        PYTHONPATH=os.pathsep.join(filter(None, [str(SRC), env.get("PYTHONPATH")])),
        HF_ENDPOINT=hub_url,
        HF_HOME=str(hf_home),
        HF_HUB_DISABLE_TELEMETRY="1",
        QWENCHAT_HOME=str(qwenchat_home),
    )
    env.update(extra)
    return env


def run_python(code: str, env: dict[str, str]) -> dict[str, Any]:
    """Run ``code`` in a fresh interpreter; it must print one JSON object on its last line."""
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    lines = result.stdout.strip().splitlines()
    assert result.returncode == 0 and lines, (result.returncode, result.stdout, result.stderr)
    answer: dict[str, Any] = json.loads(lines[-1])
    answer["stderr"] = result.stderr
    return answer


_SNIPPET = """
import json, os
from pathlib import Path
from qwenchat.catalog import pull_model, pull_qwen, resolve_model_file
from qwenchat.errors import ModelFileError
home = Path(os.environ["QWENCHAT_HOME"])
said = []
say = said.append
try:
    result = {"path": str(EXPRESSION)}
except ModelFileError as exc:
    result = {"error": exc.message}
result["said"] = said
print(json.dumps(result))
"""


def call(expression: str, *, before: str = "") -> str:
    """Code that evaluates ``expression`` (a model path) and prints ``{"path"}`` or ``{"error"}``.

    The expression may use ``home`` (``$QWENCHAT_HOME``) and ``say`` (collects messages).
    """
    return before + _SNIPPET.replace("EXPRESSION", expression)
