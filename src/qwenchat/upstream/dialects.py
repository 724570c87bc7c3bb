"""DashScope's dialect <-> the dialects of OpenAI-compatible upstreams, both ways.

Requests. The client's body, already validated as DashScope's, is forwarded with the fields
the upstream's dialect knows as sent; any other field is not forwarded (it is logged by name:
an upstream may read a field DashScope does not have, such as vLLM's ``chat_template``, in
ways a client must not choose). Besides:

* ``model`` becomes the upstream's name for it;
* it is always streamed with ``stream_options.include_usage``: usage is always metered, and
  the usage chunk reaches the client only if it asked (the server re-encodes every chunk);
* ``max_tokens`` is the value DashScope's rules resolved for the id (its default if unset),
  except that ``vllm`` gets none when the client set none: vLLM refuses a ``max_tokens`` above
  its context length (400), which the ids' defaults (65,536 for qwen3.6-plus) exceed on most
  deployments, and unset it stops where the context ends;
* ``max_completion_tokens`` (reasoning and answer together) goes to ``dashscope`` as sent,
  beside ``max_tokens``. The other dialects have one limit on everything generated, so they
  get the smaller of the two as that one limit: ``vllm``, ``sglang`` and ``openai`` as
  ``max_completion_tokens`` (the name they document for it), ``llama-server`` as
  ``max_tokens``;
* thinking: ``dashscope`` gets ``enable_thinking`` (resolved) and ``thinking_budget`` as they
  are; ``vllm``, ``sglang`` and ``llama-server`` get ``chat_template_kwargs.enable_thinking``,
  and ``vllm`` the budget as ``thinking_token_budget``; ``openai`` gets neither;
* DashScope-only fields (``enable_thinking``, ``thinking_budget``, ``preserve_thinking``,
  ``translation_options``) are not sent to other dialects; ``enable_search`` and
  ``search_options`` (billed searches) reach DashScope only where the deployment sets
  ``allow_search``, and ``enable_search: true`` anywhere else is a 400 (no search would
  happen);
* ``top_k`` and ``repetition_penalty`` go to every dialect but ``openai``, llama-server
  getting the penalty under its own name, ``repeat_penalty``; ``grammar`` (GBNF) goes to
  llama-server only;
* an assistant message's ``reasoning_content`` is sent as ``reasoning`` to vLLM, which reads
  only that name now.

Responses. Each upstream chunk becomes ChatEvents: ``reasoning`` or ``reasoning_content``
-> reasoning, ``content`` -> content (with logprobs), ``tool_calls`` -> tool-call deltas,
``finish_reason`` -> ``Finish`` (reasons other than stop, length and tool_calls read as stop),
and the usage chunk -> ``Usage``.

Errors. An upstream 400 (or 404, 413, 422) stays a 400 with the upstream's message; a 429
stays a 429 with the upstream's ``Retry-After``; the upstream's own authentication failures
and 5xx answers are the operator's problem, not the client's: 503 ``ModelUnavailable``,
logged.
"""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Mapping
from enum import Enum
from typing import Any

from qwenchat.core import (
    ChatEvent,
    ChatRequest,
    ContentDelta,
    Finish,
    FinishReason,
    ReasoningDelta,
    TokenLogprob,
    ToolCallDelta,
    TopLogprob,
    Usage,
)
from qwenchat.errors import InvalidParameter, ModelUnavailable, QwenchatError, RateLimited

_log = logging.getLogger("qwenchat.upstream")


class Dialect(str, Enum):
    """How an upstream spells what DashScope's API says."""

    VLLM = "vllm"
    SGLANG = "sglang"
    LLAMA_SERVER = "llama-server"
    DASHSCOPE = "dashscope"
    OPENAI = "openai"


# The request fields (of DashScope's contract, docs/api.md) each dialect knows.
_OPENAI_FIELDS = frozenset({
    "model", "messages", "stream", "stream_options", "temperature", "top_p",
    "presence_penalty", "frequency_penalty", "max_tokens", "max_completion_tokens", "n",
    "seed", "stop", "logprobs", "top_logprobs", "tools", "tool_choice",
    "parallel_tool_calls", "response_format", "logit_bias", "user"})
_SAMPLING_EXTRAS = frozenset({"top_k", "repetition_penalty"})
_SEARCH = frozenset({"enable_search", "search_options"})
_OUTPUT_LIMITS = frozenset({"max_tokens", "max_completion_tokens"})  # see _output_limits
_KNOWN_FIELDS = {
    Dialect.OPENAI: _OPENAI_FIELDS,
    Dialect.VLLM: _OPENAI_FIELDS | _SAMPLING_EXTRAS,
    Dialect.SGLANG: _OPENAI_FIELDS | _SAMPLING_EXTRAS,
    Dialect.LLAMA_SERVER: _OPENAI_FIELDS | _SAMPLING_EXTRAS | {"grammar"},
    Dialect.DASHSCOPE: _OPENAI_FIELDS | _SAMPLING_EXTRAS | _SEARCH | {
        "enable_thinking", "thinking_budget", "preserve_thinking", "translation_options"},
}
_TEMPLATE_THINKING = (Dialect.VLLM, Dialect.SGLANG, Dialect.LLAMA_SERVER)
_FINISH = {reason.value: reason for reason in FinishReason}


def upstream_body(body: Mapping[str, Any], request: ChatRequest, model: str,
                  dialect: Dialect, *, allow_search: bool = False) -> dict[str, Any]:
    """The body to send upstream for a client's ``body`` (``request`` is its checked form);
    ``allow_search``: the deployment lets ``enable_search`` through (DashScope only)."""
    if request.enable_search and not (allow_search and dialect is Dialect.DASHSCOPE):
        raise InvalidParameter(f"Web search (enable_search) is not available for the model "
                               f"{request.model} on this server.", param="enable_search")
    known = _KNOWN_FIELDS[dialect] - (frozenset() if allow_search else _SEARCH)
    out = {key: value for key, value in body.items() if key in known - _OUTPUT_LIMITS}
    dropped = sorted(key for key in body if key not in known)
    if dropped:
        _log.info("not forwarded to the %s upstream: %s", dialect.value, ", ".join(dropped))
    out["model"] = model
    out["stream"] = True
    out["stream_options"] = {"include_usage": True}
    out.update(_output_limits(body, request, dialect))
    thinking = bool(request.enable_thinking)
    if dialect is Dialect.DASHSCOPE:
        out["enable_thinking"] = thinking
    elif dialect in _TEMPLATE_THINKING:
        out["chat_template_kwargs"] = {"enable_thinking": thinking}
        if dialect is Dialect.VLLM and thinking and request.thinking_budget is not None:
            out["thinking_token_budget"] = request.thinking_budget
    if dialect is Dialect.LLAMA_SERVER and "repetition_penalty" in out:
        out["repeat_penalty"] = out.pop("repetition_penalty")
    if dialect is Dialect.VLLM:
        out["messages"] = [_reasoning_as_vllm(message) for message in body["messages"]]
    return out


def _output_limits(body: Mapping[str, Any], request: ChatRequest,
                   dialect: Dialect) -> dict[str, int]:
    """The output-limit fields for ``dialect`` (replacing any the client sent)."""
    answer = request.sampling.max_tokens
    if dialect is Dialect.VLLM and body.get("max_tokens") is None:
        answer = None
    total = request.sampling.max_completion_tokens
    if dialect is Dialect.DASHSCOPE or total is None:
        limits = {"max_tokens": answer, "max_completion_tokens": total}
    else:
        limit = total if answer is None else min(answer, total)
        name = "max_tokens" if dialect is Dialect.LLAMA_SERVER else "max_completion_tokens"
        limits = {name: limit}
    return {name: value for name, value in limits.items() if value is not None}


def _reasoning_as_vllm(message: Any) -> Any:
    if not isinstance(message, dict) or "reasoning_content" not in message:
        return message
    renamed = copy.copy(message)
    renamed["reasoning"] = renamed.pop("reasoning_content")
    return renamed


def chunk_events(chunk: dict[str, Any]) -> list[ChatEvent]:
    """The ChatEvents of one upstream ``chat.completion.chunk``; raises an in-band error."""
    if "error" in chunk:
        raise error_from(500, chunk)
    events: list[ChatEvent] = []
    for choice in chunk.get("choices") or ():
        index = int(choice.get("index") or 0)
        delta = choice.get("delta") or {}
        reasoning = delta.get("reasoning") or delta.get("reasoning_content")
        if reasoning:
            events.append(ReasoningDelta(index, reasoning))
        if delta.get("content"):
            events.append(ContentDelta(index, delta["content"],
                                       _logprobs(choice.get("logprobs"))))
        events += [_tool_call(index, call) for call in delta.get("tool_calls") or ()]
        if choice.get("finish_reason"):
            events.append(Finish(index, _FINISH.get(choice["finish_reason"], FinishReason.STOP)))
    if chunk.get("usage"):
        events.append(usage_from(chunk["usage"]))
    return events


def _tool_call(choice: int, call: dict[str, Any]) -> ToolCallDelta:
    function = call.get("function") or {}
    return ToolCallDelta(choice=choice, index=int(call.get("index") or 0),
                         arguments=function.get("arguments") or "", id=call.get("id"),
                         name=function.get("name"))


def _logprobs(logprobs: dict[str, Any] | None) -> tuple[TokenLogprob, ...]:
    if not logprobs:
        return ()
    return tuple(
        TokenLogprob(token=entry["token"], logprob=float(entry["logprob"]),
                     bytes=tuple(entry.get("bytes") or ()),
                     top_logprobs=tuple(
                         TopLogprob(token=top["token"], logprob=float(top["logprob"]),
                                    bytes=tuple(top.get("bytes") or ()))
                         for top in entry.get("top_logprobs") or ()))
        for entry in logprobs.get("content") or ())


def usage_from(usage: dict[str, Any]) -> Usage:
    """An OpenAI usage object as ``Usage``."""
    prompt_details = usage.get("prompt_tokens_details") or {}
    completion_details = usage.get("completion_tokens_details") or {}
    return Usage(prompt_tokens=int(usage.get("prompt_tokens") or 0),
                 completion_tokens=int(usage.get("completion_tokens") or 0),
                 cached_tokens=int(prompt_details.get("cached_tokens") or 0),
                 reasoning_tokens=int(completion_details.get("reasoning_tokens") or 0))


def error_from(status: int, body: Any, retry_after: str | None = None) -> QwenchatError:
    """The DashScope error for an upstream's error answer (``retry_after``: its
    ``Retry-After`` header, passed on with a 429; 1 s when absent or not a number)."""
    message = _message(body)
    if status in (400, 404, 413, 422):
        return InvalidParameter(message or "The upstream model refused the request.")
    if status == 429:
        return RateLimited(message or None, retry_after=_seconds(retry_after))
    _log.error("upstream answered %d: %s", status, message or body)
    return ModelUnavailable()


def _seconds(header: str | None) -> float:
    try:
        return max(0.0, float(header)) if header else 1.0
    except ValueError:  # an HTTP date: rare from model servers
        return 1.0


def _message(body: Any) -> str:
    if isinstance(body, (bytes, str)):
        try:
            body = json.loads(body)
        except ValueError:
            return body.decode(errors="replace")[:500] if isinstance(body, bytes) else body[:500]
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict):
            return str(error.get("message") or error.get("detail") or "")
        return str(error)
    return ""
