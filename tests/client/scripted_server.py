"""A tiny scripted HTTP server (stdlib, in a thread) that plays canned answers in order.

Each request takes the next :class:`Answer`; the last one repeats. An answer is a status,
headers and a body: JSON, or SSE frames. ``cut_after`` frames the connection is dropped with
the body incomplete, which the client sees as a broken stream.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Answer:
    status: int = 200
    body: Any = None
    frames: list[dict[str, Any]] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    cut_after: int | None = None


@dataclass
class Seen:
    method: str
    path: str
    body: Any
    at: float


def completion(content: str = "Hello!") -> dict[str, Any]:
    return {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "m",
            "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                         "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}}


def chunks(*contents: str) -> list[dict[str, Any]]:
    """A stream: role chunk, content chunks, finish chunk, usage chunk."""
    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1,
                "model": "m", "usage": None,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    usage = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m",
             "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2,
                                      "total_tokens": 5}}
    return [chunk({"role": "assistant", "content": ""}),
            *(chunk({"content": text}) for text in contents), chunk({}, "stop"), usage]


def error(status: int, code: str, message: str, **headers: str) -> Answer:
    return Answer(status, {"error": {"message": message, "type": code, "param": None,
                                     "code": code}, "request_id": "r"}, headers=headers)


class ScriptedServer:
    def __init__(self, answers: list[Answer]) -> None:
        self.answers = answers
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}/compatible-mode/v1"
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,),
                                        daemon=True)

    def __enter__(self) -> ScriptedServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()

    def _next(self, seen: Seen) -> Answer:
        with self._lock:
            self.seen.append(seen)
            return self.answers[min(len(self.seen), len(self.answers)) - 1]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                self._answer(None)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self._answer(json.loads(self.rfile.read(length) or b"null"))

            def _answer(self, body: Any) -> None:
                answer = server._next(Seen(self.command, self.path, body, time.monotonic()))
                if answer.frames is None:
                    self._send(answer, json.dumps(answer.body).encode(), "application/json")
                else:
                    self._stream(answer)

            def _send(self, answer: Answer, data: bytes, kind: str) -> None:
                self.send_response(answer.status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def _stream(self, answer: Answer) -> None:
                frames = list(_frames(answer))
                data = b"".join(frames)
                self.send_response(answer.status)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Content-Length", str(len(data) + (1000 if answer.cut_after
                                                                    is not None else 0)))
                self.end_headers()
                for frame in frames[:answer.cut_after]:
                    self.wfile.write(frame)
                    self.wfile.flush()
                    time.sleep(0.01)
                if answer.cut_after is not None:
                    self.close_connection = True

        return Handler


def _frames(answer: Answer) -> Iterator[bytes]:
    for frame in answer.frames or []:
        yield f"data: {json.dumps(frame)}\n\n".encode()
    if answer.cut_after is None:
        yield b"data: [DONE]\n\n"
