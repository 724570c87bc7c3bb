"""When to retry and how long to wait: pure policy, no I/O.

Retried: HTTP 429, any 5xx, connection errors and timeouts, and an error frame that arrives
before a stream produced any output. Never retried: other 4xx answers, and a stream that
already produced output (its text was shown; a second answer would differ).

The wait before retry ``n`` (1-based) is exponential backoff with full jitter,
``uniform(0, min(max_delay, base_delay * 2 ** (n - 1)))``, raised to the server's
``Retry-After`` when it sends one: the client never comes back earlier than asked. When the
server asks for more than ``max_delay``, the client gives up instead of waiting that long.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass

# Error codes that an in-stream error frame may carry when the server is only busy.
RETRYABLE_CODES = frozenset({"limit_requests", "insufficient_quota", "ModelServingError",
                             "ModelUnavailable", "internal_error"})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """At most ``max_attempts`` requests in all; delays in seconds."""

    max_attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 20.0

    def backoff(self, retry: int, rng: random.Random | None = None) -> float:
        """The jittered exponential delay before retry number ``retry`` (1-based)."""
        ceiling = min(self.max_delay, self.base_delay * 2 ** (retry - 1))
        return (rng or random).uniform(0.0, ceiling)

    def delay(self, retry: int, retry_after: float | None,
              rng: random.Random | None = None) -> float | None:
        """Seconds to wait before retry ``retry``, or None when the client should give up."""
        if retry >= self.max_attempts:
            return None
        if retry_after is not None and retry_after > self.max_delay:
            return None
        return max(self.backoff(retry, rng), retry_after or 0.0)


def is_retryable_status(status: int) -> bool:
    """429 and every 5xx are worth another try; other answers are final."""
    return status == 429 or status >= 500


def retry_after_seconds(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """The server's ``Retry-After`` (seconds or an HTTP date; or ``retry-after-ms``), if any."""
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))
