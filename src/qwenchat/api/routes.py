"""The HTTP routes: chat completions and models under both bases, and health.

``/compatible-mode/v1`` is DashScope's base path; ``/v1`` is the alias OpenAI-style tools
assume. Both serve identical routes. Model cards carry ``root``, the model file behind the id
(as vLLM's cards do), so a client can see what really answers.
"""

from __future__ import annotations

import time
import weakref
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse

from qwenchat.api.errors import json_response, request_id
from qwenchat.api.streaming import collect, sse_frames
from qwenchat.errors import ModelNotFound
from qwenchat.protocol import (
    ChunkEncoder,
    CompletionAssembler,
    models_list,
    new_completion_id,
    parse_chat_request,
)
from qwenchat.service import ChatService

BASES = ("/compatible-mode/v1", "/v1")


def build_router(service: ChatService, started: int) -> APIRouter:
    """All routes of the app, bound to ``service``."""
    router = APIRouter()

    async def chat_completions(request: Request) -> Response:
        rid = request_id(request)
        chat_request = parse_chat_request(await request.body())
        prepared = await service.prepare(chat_request)
        completion_id, created = new_completion_id(), int(time.time())
        model, n = chat_request.model, chat_request.n
        if chat_request.stream:
            encoder = ChunkEncoder(completion_id=completion_id, created=created, model=model,
                                   n=n, include_usage=chat_request.include_usage)
            frames = sse_frames(prepared, encoder, rid)
            # a client gone before the stream starts never runs the generator's cleanup
            weakref.finalize(frames, prepared.cancel)
            return StreamingResponse(
                frames, media_type="text/event-stream",
                headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no",
                         "x-request-id": rid},
            )
        assembler = CompletionAssembler(completion_id=completion_id, created=created,
                                        model=model, n=n)
        body = await collect(prepared, assembler, request)
        return json_response(body, headers={"x-request-id": rid})

    def model_cards(ids: list[str]) -> dict[str, Any]:
        """OpenAI's model list, each card naming the model file behind it in ``root``."""
        cards = models_list(ids, started, "qwenchat")
        for card in cards["data"]:
            card["root"] = service.catalog.resolve(card["id"]).model_file.name
        return cards

    async def list_models() -> Response:
        return json_response(model_cards(service.catalog.ids()))

    async def get_model(model_id: str) -> Response:
        if model_id not in service.catalog.ids():
            raise ModelNotFound(model_id)
        return json_response(model_cards([model_id])["data"][0])

    for base in BASES:
        router.add_api_route(f"{base}/chat/completions", chat_completions, methods=["POST"])
        router.add_api_route(f"{base}/models", list_models, methods=["GET"])
        router.add_api_route(f"{base}/models/{{model_id:path}}", get_model, methods=["GET"])
    return router
