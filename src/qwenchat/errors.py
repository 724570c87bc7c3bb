"""The one exception tree of qwenchat.

Library code raises these; ``qwenchat.api`` alone turns them into an HTTP status and
DashScope's error envelope. Each class carries the DashScope ``code`` and error ``type``
it maps to, so the mapping is data, not a chain of ``isinstance`` checks::

    QwenchatError                      (500 internal_error)
    ├── RequestError                   (400 invalid_parameter_error / invalid_request_error)
    │   ├── InvalidParameter           a field or message rule is violated
    │   │   └── ConstraintDeadEnd      a grammar allows no next token mid-generation
    │   ├── InvalidBody                the body is not valid JSON / not an object
    │   └── BodyRefused                the body is too large or too slow (connection closed)
    ├── AuthenticationError            (401 invalid_api_key)
    ├── AccessDenied                   (403 access_denied)
    ├── ModelNotFound                  (404 model_not_found)
    ├── RateLimited                    (429 limit_requests)
    ├── QuotaExceeded                  (429 insufficient_quota)
    ├── ServerOverloaded               (503 ModelServingError)
    ├── ModelUnavailable               (503 ModelUnavailable)
    ├── ConfigError                    bad settings file / CLI options (never an HTTP answer)
    └── ModelFileError                 a model file is missing, corrupt or cannot be fetched
"""

from __future__ import annotations


class QwenchatError(Exception):
    """Base of every error qwenchat raises on purpose."""

    status: int = 500
    code: str = "internal_error"
    type: str = "internal_error"
    default_message = "An internal error has occurred, please try again later."

    def __init__(self, message: str | None = None, *, param: str | None = None) -> None:
        self.message = message or self.default_message
        self.param = param
        super().__init__(self.message)


class RequestError(QwenchatError):
    """The request cannot be served as sent (HTTP 400)."""

    status = 400
    code = "invalid_parameter_error"
    type = "invalid_request_error"


class InvalidParameter(RequestError):
    """A request field or a message rule of docs/api.md is violated."""


class InvalidBody(RequestError):
    """The body is not a JSON object."""

    code = "invalid_request_error"
    default_message = "Required body invalid, please check the request body format."


class ConstraintDeadEnd(InvalidParameter):
    """The request's grammar (or schema) allows no next token: the choice cannot go on.

    Raised while generating, so it reaches a streaming client as an in-band error frame."""

    default_message = ("The grammar allows no continuation of the output generated so far; "
                       "it cannot be enforced.")


class BodyRefused(RequestError):
    """The body passed the size cap or did not arrive in time; the answer closes the
    connection (the rest of the body is not worth reading)."""


class AuthenticationError(QwenchatError):
    """Missing, unknown, revoked or other-region API key (HTTP 401)."""

    status = 401
    code = "invalid_api_key"
    type = "invalid_request_error"
    default_message = "Incorrect API key provided."


class AccessDenied(QwenchatError):
    """The key may not use this model (HTTP 403)."""

    status = 403
    code = "access_denied"
    type = "invalid_request_error"
    default_message = "Access denied."


class ModelNotFound(QwenchatError):
    """The model id is not served here (HTTP 404)."""

    status = 404
    code = "model_not_found"
    type = "invalid_request_error"

    def __init__(self, model: str) -> None:
        super().__init__(
            f"The model `{model}` does not exist or you do not have access to it.",
            param="model",
        )
        self.model = model


class RateLimited(QwenchatError):
    """Request-rate limit hit (HTTP 429); ``retry_after`` in seconds, None: not soon."""

    status = 429
    code = "limit_requests"
    type = "limit_requests"
    default_message = "Requests rate limit exceeded, please try again later."

    def __init__(self, message: str | None = None, *,
                 retry_after: float | None = 1.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class QuotaExceeded(RateLimited):
    """Token-rate limit or token quota hit (HTTP 429)."""

    code = "insufficient_quota"
    type = "insufficient_quota"
    default_message = "Allocated quota exceeded, please increase your quota limit."


class ServerOverloaded(QwenchatError):
    """The engine's wait queue is full (HTTP 503)."""

    status = 503
    code = "ModelServingError"
    type = "ModelServingError"
    default_message = (
        "Too many requests. Your requests are being throttled due to system capacity "
        "limits. Please try again later."
    )

    def __init__(self, message: str | None = None, *, retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ModelUnavailable(QwenchatError):
    """The model's engine is not loaded or has stopped (HTTP 503)."""

    status = 503
    code = "ModelUnavailable"
    type = "ModelUnavailable"
    default_message = "The model is not available now, please try again later."


class ConfigError(QwenchatError):
    """The settings file, environment or command line is invalid."""


class ModelFileError(QwenchatError):
    """A model file is missing, corrupt or cannot be fetched."""
