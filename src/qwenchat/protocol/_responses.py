"""Wire pieces shared by the response builders, plus ``/models`` and completion ids.

Everything here is pure: core values in, plain JSON-ready dicts out, in docs/api.md's shapes.
``usage`` always carries ``prompt_tokens_details.cached_tokens`` and
``completion_tokens_details.reasoning_tokens``; logprobs use OpenAI's
``{"content": [{"token", "logprob", "bytes", "top_logprobs": [...]}]}`` shape.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from qwenchat.core import TokenLogprob, Usage


def new_completion_id() -> str:
    """A fresh ``chatcmpl-<uuid4>`` id."""
    return f"chatcmpl-{uuid.uuid4()}"


def usage_dict(usage: Usage | None) -> dict[str, Any]:
    """docs/api.md's ``usage`` object; zeros when the backend reported none."""
    usage = usage or Usage(prompt_tokens=0, completion_tokens=0)
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cached_tokens},
        "completion_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
    }


def logprobs_dict(tokens: Iterable[TokenLogprob]) -> dict[str, Any]:
    """A choice's ``logprobs`` object for the given answer tokens."""
    return {
        "content": [
            {
                "token": token.token,
                "logprob": token.logprob,
                "bytes": list(token.bytes),
                "top_logprobs": [
                    {"token": top.token, "logprob": top.logprob, "bytes": list(top.bytes)}
                    for top in token.top_logprobs
                ],
            }
            for token in tokens
        ]
    }


def models_list(ids: list[str], created: int, owned_by: dict[str, str] | str) -> dict[str, Any]:
    """The OpenAI ``/models`` list; ``owned_by`` is one owner or a per-id map."""

    def owner(model_id: str) -> str:
        if isinstance(owned_by, str):
            return owned_by
        return owned_by.get(model_id, "qwenchat")

    return {
        "object": "list",
        "data": [
            {"id": model_id, "object": "model", "created": created, "owned_by": owner(model_id)}
            for model_id in ids
        ],
    }
