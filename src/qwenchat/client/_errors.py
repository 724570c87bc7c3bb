"""The client's one exception, and the translation of SDK errors into it.

Every failure the client reports is a :class:`ClientError` whose message says what to do next.
``exit_code`` is what ``qwenchat chat`` exits with:

* ``2`` usage: bad arguments, no API key, unknown region, a tool that cannot be loaded;
* ``3`` API error: the server answered with an error (after any retries), or a tool loop that
  did not finish;
* ``4`` connection error: the server could not be reached or timed out (after any retries).

SDK exceptions are translated here, at the boundary, and chained (``raise ... from exc``).
"""

from __future__ import annotations

from typing import Any

import openai

EXIT_USAGE = 2
EXIT_API = 3
EXIT_CONNECTION = 4

_REGION_HINT = "QWEN_REGION=beijing|singapore|virginia|hongkong, or QWEN_BASE_URL"


class ClientError(Exception):
    """A failure of the client, with an actionable message and the exit code it maps to."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None,
                 exit_code: int = EXIT_API) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.exit_code = exit_code


def error_fields(body: object) -> tuple[str | None, str | None]:
    """``(message, code)`` of an error body: the envelope, its ``error`` member, or neither."""
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        body = body["error"]
    if not isinstance(body, dict):
        return None, None
    message, code = body.get("message"), body.get("code")
    return (str(message) if message else None), (str(code) if code is not None else None)


def status_error(exc: openai.APIStatusError, *, base_url: str, model: str | None,
                 retries: int, note: str = "") -> ClientError:
    """The ClientError for an HTTP error answer, after ``retries`` retries."""
    status = exc.status_code
    server_message, code = error_fields(exc.body)
    said = server_message or exc.message
    if status == 401:
        text = (f"Incorrect API key provided ({said}). Check the key, or the region: keys are "
                f"per region, and {base_url} rejected this one ({_REGION_HINT}).")
    elif status == 403:
        text = (f"Access denied: {said} The key may not use model `{model}`; "
                "pick another model or grant the key access.")
    elif status == 404:
        text = (f"{said} List the models with `qwenchat models list` "
                f"(GET {base_url}/models).")
    elif status == 429:
        text = f"rate limited; retried {retries} times: {said}"
    elif status >= 500:
        text = f"server error {status}; retried {retries} times: {said}"
    else:
        text = said
    return ClientError(text + note, status=status, code=code, exit_code=EXIT_API)


def stream_error(exc: openai.APIError, *, retries: int) -> ClientError:
    """The ClientError for an error frame sent after the stream had started."""
    message, code = error_fields(exc.body)
    suffix = f" (retried {retries} times)" if retries else ""
    return ClientError(f"the stream failed: {message or exc.message}{suffix}", code=code,
                       exit_code=EXIT_API)


def connection_error(exc: BaseException, *, base_url: str, retries: int,
                     note: str = "") -> ClientError:
    """The ClientError for a server that could not be reached or did not answer in time."""
    what = "timed out" if _is_timeout(exc) else "could not connect"
    detail = str(exc.__cause__ or exc) or type(exc).__name__
    return ClientError(
        f"{what} to {base_url} ({detail}); retried {retries} times. Is the server running "
        f"(`qwenchat serve` for QWEN_REGION=local)? Check the base URL ({_REGION_HINT})."
        + note,
        exit_code=EXIT_CONNECTION,
    )


def _is_timeout(exc: BaseException) -> bool:
    chain: Any = exc
    while chain is not None:
        if isinstance(chain, openai.APITimeoutError) or "Timeout" in type(chain).__name__:
            return True
        chain = chain.__cause__
    return False
