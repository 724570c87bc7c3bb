"""ChatClient: one chat completion through the official ``openai`` SDK, with our retries.

The SDK's own retries are off (``max_retries=0``): :class:`~qwenchat.client.RetryPolicy`
decides (see ``_retry``). A request is the JSON body of ``POST /chat/completions``; fields the
SDK does not name (DashScope's ``enable_thinking``, ``thinking_budget``, ...) travel in
``extra_body``, so every field reaches the server unchanged. Streams always ask for
``include_usage``. Every answer comes back as one normalised ``chat.completion`` dict (see
``_response``); SDK errors leave as :class:`~qwenchat.client.ClientError`.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeVar

import openai

from qwenchat.client._connection import Connection
from qwenchat.client._errors import (
    EXIT_USAGE,
    ClientError,
    connection_error,
    error_fields,
    status_error,
    stream_error,
)
from qwenchat.client._response import StreamAssembler, TextCallback, dump_completion, normalise
from qwenchat.client._retry import (
    RETRYABLE_CODES,
    RetryPolicy,
    is_retryable_status,
    retry_after_seconds,
)

T = TypeVar("T")
RetryCallback = Callable[[int, float, str], None]


def _transport_errors() -> tuple[type[BaseException], ...]:
    """The HTTP libraries' transport errors (older SDKs let them out of a stream unwrapped)."""
    found: list[type[BaseException]] = [openai.APIConnectionError]
    for name in ("httpx", "httpx2"):
        try:
            found.append(importlib.import_module(name).TransportError)
        except (ImportError, AttributeError):
            continue
    return tuple(found)


CONNECTION_ERRORS = _transport_errors()
STREAM_ERRORS: tuple[type[BaseException], ...] = (openai.APIError, *CONNECTION_ERRORS)
DEFAULT_RETRY = RetryPolicy()


class ChatClient:
    """A DashScope-compatible chat client with retries; close it, or use it in ``with``.

    ``on_retry(attempt, delay, reason)`` is told before each wait: the number of the attempt
    that failed (1-based), the seconds until the next one, and why.
    """

    def __init__(self, connection: Connection, *, retry: RetryPolicy = DEFAULT_RETRY,
                 timeout: float = 600, on_retry: RetryCallback | None = None) -> None:
        self.connection = connection
        self.retry = retry
        self._on_retry = on_retry
        self._sdk = openai.OpenAI(base_url=connection.base_url, api_key=connection.api_key,
                                  max_retries=0, timeout=timeout)

    def complete(self, request: dict[str, Any], *, stream: bool = False,
                 on_content: TextCallback | None = None,
                 on_reasoning: TextCallback | None = None) -> dict[str, Any]:
        """Send ``request``; return the normalised ``chat.completion`` dict.

        Streams when ``stream`` (or the request's own ``stream``) is true: the callbacks get
        choice 0's deltas as they arrive. Otherwise they are called once with the whole text.
        """
        body = dict(request)
        is_stream = bool(body.pop("stream", False)) or stream
        model, messages = body.pop("model", None), body.pop("messages", None)
        if not model or not isinstance(messages, list):
            raise ClientError("The request needs a `model` and a list of `messages`.",
                              exit_code=EXIT_USAGE)
        if is_stream:
            body["stream_options"] = {**(body.get("stream_options") or {}),
                                      "include_usage": True}
            return self._retrying(
                lambda: self._stream(model, messages, body, on_content, on_reasoning), model)
        body.pop("stream_options", None)
        response = self._retrying(lambda: self._whole(model, messages, body), model)
        message = response["choices"][0]["message"] if response.get("choices") else {}
        if on_reasoning is not None and response["reasoning"]:
            on_reasoning(response["reasoning"])
        if on_content is not None and message.get("content"):
            on_content(message["content"])
        return response

    def list_models(self) -> list[str]:
        """The model ids the server offers (``GET /models``)."""
        page = self._retrying(self._sdk.models.list, None)
        return [model.id for model in page.data]

    def close(self) -> None:
        """Close the SDK client and its connections."""
        self._sdk.close()

    def __enter__(self) -> ChatClient:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    def _whole(self, model: str, messages: list[Any], body: dict[str, Any]) -> dict[str, Any]:
        completion = self._sdk.chat.completions.create(
            model=model, messages=messages, extra_body=body)
        return normalise(completion.model_dump(exclude_unset=True))

    def _stream(self, model: str, messages: list[Any], body: dict[str, Any],
                on_content: TextCallback | None,
                on_reasoning: TextCallback | None) -> dict[str, Any]:
        assembler = StreamAssembler(on_content=on_content, on_reasoning=on_reasoning)
        try:
            with self._sdk.chat.completions.create(
                    model=model, messages=messages, stream=True, extra_body=body) as chunks:
                for chunk in chunks:
                    assembler.add(chunk.model_dump(exclude_unset=True))
        except STREAM_ERRORS as exc:
            if assembler.has_output:  # shown already: a retry would answer differently
                raise self._broken_stream(exc) from exc
            raise
        return normalise(dump_completion(assembler.result()))

    def _broken_stream(self, exc: BaseException) -> ClientError:
        if isinstance(exc, openai.APIError) and not isinstance(exc, openai.APIConnectionError):
            return stream_error(exc, retries=0)
        return connection_error(exc, base_url=self.connection.base_url, retries=0,
                                note=" The stream broke after output began: not retried.")

    def _wait_note(self, status: int, retry_after: float | None) -> str:
        if (is_retryable_status(status) and retry_after is not None
                and retry_after > self.retry.max_delay):
            return (f" The server asked to retry after {retry_after:g}s, more than the "
                    f"{self.retry.max_delay:g}s the retry policy waits.")
        return ""

    def _retrying(self, attempt: Callable[[], T], model: str | None) -> T:
        """``attempt()`` until it succeeds, fails for good, or the policy says stop."""
        number = 1
        while True:
            try:
                return attempt()
            except openai.APIStatusError as exc:
                status, retry_after = exc.status_code, retry_after_seconds(exc.response.headers)
                delay = (self.retry.delay(number, retry_after)
                         if is_retryable_status(status) else None)
                if delay is None:
                    raise status_error(exc, base_url=self.connection.base_url, model=model,
                                       retries=number - 1,
                                       note=self._wait_note(status, retry_after)) from exc
                reason = f"HTTP {status}: {error_fields(exc.body)[0] or exc.message}"
            except CONNECTION_ERRORS as exc:
                delay = self.retry.delay(number, None)
                if delay is None:
                    raise connection_error(exc, base_url=self.connection.base_url,
                                           retries=number - 1) from exc
                reason = f"connection failed: {exc.__cause__ or exc}"
            except openai.APIError as exc:  # an error frame before any output
                code = error_fields(exc.body)[1]
                delay = self.retry.delay(number, None) if code in RETRYABLE_CODES else None
                if delay is None:
                    raise stream_error(exc, retries=number - 1) from exc
                reason = f"stream error: {exc.message}"
            if self._on_retry is not None:
                self._on_retry(number, delay, reason)
            time.sleep(delay)
            number += 1

