"""The one place where exceptions become HTTP statuses and DashScope error envelopes.

``QwenchatError`` subclasses carry their status and code; anything else is logged with its
traceback and answered as a bare 500 ``internal_error`` (never the exception text), and the
server keeps serving. Framework errors (unknown path, wrong method) get the same envelope.
A refused body (too large, too slow) is answered with ``Connection: close``: the server does
not read the rest of it.
"""

from __future__ import annotations

import json
import logging
import math
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from qwenchat.errors import BodyRefused, QwenchatError, RateLimited, ServerOverloaded

_log = logging.getLogger("qwenchat.api")


def request_id(request: Request) -> str:
    """The id of this request (made on first use, kept on ``request.state``)."""
    existing = getattr(request.state, "request_id", None)
    if existing is None:
        existing = str(uuid.uuid4())
        request.state.request_id = existing
    return str(existing)


def envelope(error: QwenchatError, rid: str) -> dict[str, Any]:
    """DashScope's error body for ``error``."""
    return {
        "error": {"message": error.message, "type": error.type, "param": error.param,
                  "code": error.code},
        "request_id": rid,
    }


def json_response(body: dict[str, Any], status: int = 200,
                  headers: dict[str, str] | None = None) -> Response:
    """A compact UTF-8 JSON response."""
    content = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    return Response(content, status_code=status, media_type="application/json",
                    headers=headers)


def retry_headers(error: QwenchatError) -> dict[str, str]:
    """``Retry-After`` (whole seconds, rounded up so that waiting it is enough) and the
    OpenAI SDK's ``retry-after-ms``, on 429 and 503; none for a spent quota."""
    retry_after: float | None = 5.0 if error.status == 503 else None
    if isinstance(error, (RateLimited, ServerOverloaded)):
        retry_after = error.retry_after
    if retry_after is None:
        return {}
    return {"Retry-After": str(max(1, math.ceil(retry_after))),
            "retry-after-ms": str(max(1, math.ceil(retry_after * 1000)))}


def error_response(error: QwenchatError, rid: str) -> Response:
    """The HTTP answer for ``error``, with the retry headers on 429 and 503."""
    headers = {"x-request-id": rid, **retry_headers(error)}
    if isinstance(error, BodyRefused):
        headers["Connection"] = "close"
    return json_response(envelope(error, rid), error.status, headers)


async def _on_qwenchat_error(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, QwenchatError):  # registered for QwenchatError only
        return await _on_unexpected(request, exc)
    return error_response(exc, request_id(request))


class _PathNotFound(QwenchatError):
    status, code, type = 404, "NotFound", "invalid_request_error"


class _MethodNotAllowed(QwenchatError):
    status, code, type = 405, "MethodNotAllowed", "invalid_request_error"


async def _on_http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, StarletteHTTPException) else 500
    path = request.url.path
    error: QwenchatError
    if status == 404:
        error = _PathNotFound(f"Path {path} is not served here.")
    elif status == 405:
        error = _MethodNotAllowed(f"Method {request.method} is not allowed on {path}.")
    else:
        error = QwenchatError()
    return error_response(error, request_id(request))


async def _on_unexpected(request: Request, exc: Exception) -> Response:
    _log.error("unexpected failure on %s", request.url.path, exc_info=exc)
    return error_response(QwenchatError(), request_id(request))


def install_error_handlers(app: FastAPI) -> None:
    """Route every exception through the envelope mapping."""
    app.add_exception_handler(QwenchatError, _on_qwenchat_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(Exception, _on_unexpected)
