"""The HTTP routes: chat completions and models under both bases, and metrics.

``/compatible-mode/v1`` is DashScope's base path; ``/v1`` is the alias OpenAI-style tools
assume. Both serve identical routes. Model cards carry ``root``, the model file behind the id
(as vLLM's cards do), so a client can see what really answers, and the id's limits and
capabilities (thinking mode, tools), which the playground adapts its controls to.

A chat request goes through its gateway ticket: key (401), body (400, read only now, see
``body.py``), model (404, 403), prompt and rate limits (400, 429), then generation; every
outcome, refusals included, is recorded in the usage ledger (a 401's row names no model: its
body is never read). The body is parsed once (``protocol.parse_chat_body``) and the model id
resolved in the catalog once; the service gets both. Listing models needs a valid key when
keys are required; on a loopback server open without keys, API requests must look local
(``local_callers.py``).
``/metrics`` needs the admin key when one is set (beyond loopback: always), never a chat key.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from starlette.requests import ClientDisconnect

from qwenchat.api.body import BodyLimits, parse_off_loop, read_body
from qwenchat.api.errors import json_response, request_id
from qwenchat.api.local_callers import check_local_caller
from qwenchat.api.streaming import collect, sse_frames
from qwenchat.errors import AuthenticationError, ModelNotFound, QwenchatError
from qwenchat.gateway import CONTENT_TYPE, ApiKey, Gateway, Ticket
from qwenchat.gateway.ticket import CLIENT_CLOSED
from qwenchat.protocol import (
    ChunkEncoder,
    CompletionAssembler,
    model_named_in,
    models_list,
    new_completion_id,
    parse_chat_body,
)
from qwenchat.service import ChatService, PreparedChat

BASES = ("/compatible-mode/v1", "/v1")


def build_router(service: ChatService, gateway: Gateway, started: int,
                 body_limits: BodyLimits, *, is_local: bool,
                 is_admin: Callable[[str | None], bool]) -> APIRouter:
    """All routes of the app, bound to ``service`` and ``gateway``; ``is_local``: the server
    listens on loopback; ``is_admin``: whether an ``Authorization`` header opens /metrics."""
    router = APIRouter()

    async def chat_completions(request: Request) -> Response:
        rid = request_id(request)
        ticket = gateway.ticket(rid)
        body = b""
        try:
            await ticket.authenticate(request.headers.get("authorization"))
            if ticket.key is None and is_local:
                check_local_caller(request, is_post=True)
            body = await read_body(request, body_limits)
            chat_body = await parse_off_loop(parse_chat_body, body)
            chat_request = chat_body.request
            ticket.stream = chat_request.stream
            route = service.catalog.resolve(chat_request.model)
            ticket.route(chat_request.model, route.name)
            prepared = await service.open(chat_body, route, ticket.admit)
        except QwenchatError as exc:
            if not ticket.model:
                named = await parse_off_loop(model_named_in, body)
                ticket.name_model(named, is_served=named in service.catalog.ids())
            ticket.fail(exc)
            raise
        except ClientDisconnect:  # gone before its body had arrived: nobody to answer
            ticket.abandon()
            return Response(status_code=CLIENT_CLOSED)
        except Exception:
            ticket.fail(QwenchatError())
            raise
        completion_id, created = new_completion_id(), int(time.time())
        model, n = chat_request.model, chat_request.n
        if chat_request.stream:
            encoder = ChunkEncoder(completion_id=completion_id, created=created, model=model,
                                   n=n, include_usage=chat_request.include_usage)
            frames = sse_frames(prepared, encoder, rid, ticket)
            # a client gone before the stream starts never runs the generator's cleanup
            weakref.finalize(frames, _abandon, prepared, ticket)
            return StreamingResponse(
                frames, media_type="text/event-stream",
                headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no",
                         "x-request-id": rid},
            )
        assembler = CompletionAssembler(completion_id=completion_id, created=created,
                                        model=model, n=n)
        result = await collect(prepared, assembler, request, ticket)
        return json_response(result, headers={"x-request-id": rid})

    def model_cards(ids: list[str]) -> dict[str, Any]:
        """OpenAI's model list, each card naming what answers in ``root`` and carrying the
        id's limits (``max_model_len`` as vLLM's cards do) and ``capabilities``."""
        cards = models_list(ids, started, "qwenchat")
        for card in cards["data"]:
            route = service.catalog.resolve(card["id"])
            profile = route.profile
            card["root"] = route.name
            card["max_model_len"] = profile.context_window
            card["capabilities"] = {
                "thinking": profile.thinking.value, "tools": profile.supports_tools,
                "max_output_tokens": profile.max_output,
                "max_thinking_budget": profile.max_thinking_budget,
            }
        return cards

    async def caller_key(request: Request) -> ApiKey | None:
        key = await gateway.authenticator.authenticate(request.headers.get("authorization"))
        if key is None and is_local:
            check_local_caller(request, is_post=False)
        return key

    async def list_models(request: Request) -> Response:
        key = await caller_key(request)
        ids = [i for i in service.catalog.ids() if key is None or key.allows(i)]
        return json_response(model_cards(ids))

    async def get_model(request: Request, model_id: str) -> Response:
        key = await caller_key(request)
        if model_id not in service.catalog.ids() or (key is not None
                                                     and not key.allows(model_id)):
            raise ModelNotFound(model_id)
        return json_response(model_cards([model_id])["data"][0])

    async def metrics(request: Request) -> Response:
        if not is_admin(request.headers.get("authorization")):
            raise AuthenticationError()
        return Response(gateway.metrics.exposition(), media_type=CONTENT_TYPE)

    for base in BASES:
        router.add_api_route(f"{base}/chat/completions", chat_completions, methods=["POST"])
        router.add_api_route(f"{base}/models", list_models, methods=["GET"])
        router.add_api_route(f"{base}/models/{{model_id:path}}", get_model, methods=["GET"])
    router.add_api_route("/metrics", metrics, methods=["GET"])
    return router


def _abandon(prepared: PreparedChat, ticket: Ticket) -> None:
    prepared.cancel()
    ticket.abandon()
