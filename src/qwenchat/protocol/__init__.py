"""Wire formats of DashScope's compatible-mode chat API (docs/api.md) <-> core values.

Requests: ``parse_chat_request(body)`` turns body bytes into a ``core.ChatRequest`` and keeps
every model-independent rule (``parse_chat_body`` also keeps the body's JSON object, which an
upstream forwards, so that nothing parses the bytes twice); ``check_for_model(request,
profile)`` keeps the rules that depend on the served model and resolves ``enable_thinking``
and ``max_tokens``. Both raise only ``errors.InvalidBody`` / ``errors.InvalidParameter``
(pydantic never leaks out).

Responses: ``CompletionAssembler`` (non-stream ``chat.completion``), ``ChunkEncoder``
(``chat.completion.chunk`` dicts) and ``models_list`` build docs/api.md's exact JSON shapes from
ChatEvents; they are pure and do no I/O. Pydantic is used here and nowhere else in the
library (besides settings).
"""

from __future__ import annotations

from qwenchat.protocol._chunks import ChunkEncoder
from qwenchat.protocol._completion import CompletionAssembler
from qwenchat.protocol._parse import ChatBody, model_named_in, parse_chat_body, parse_chat_request
from qwenchat.protocol._responses import models_list, new_completion_id
from qwenchat.protocol._rules import check_for_model

__all__ = [
    "ChatBody",
    "ChunkEncoder",
    "CompletionAssembler",
    "check_for_model",
    "model_named_in",
    "models_list",
    "new_completion_id",
    "parse_chat_body",
    "parse_chat_request",
]
