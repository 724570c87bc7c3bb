"""ChatService: model id -> route -> prompt -> engine -> ChatEvents.

Ids the catalog maps to an upstream deployment are answered by its replicas
(``qwenchat.upstream``); the rest by the local llama.cpp engines. Serving a request has two
steps so that every refusal happens before a response starts:
:meth:`ChatService.prepare` resolves the model, applies its rules, renders and tokenizes
the prompt, checks its length, lets the caller admit it by its prompt size and the most it
may generate (the gateway's rate limits reserve both) and queues the job (raising the
errors of errors.py);
:meth:`PreparedChat.events` then yields the ChatEvents and finally the ``Usage``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qwenchat.catalog import Catalog
from qwenchat.chat import ChatTemplate, ChoiceOutput, OutputParser, PromptPlan, plan_prompt
from qwenchat.core import ChatEvent, ChatRequest, ModelProfile, Usage
from qwenchat.core.qwen_format import END_REASONING
from qwenchat.engine import (
    Constraint,
    EngineConfig,
    EngineHealth,
    EngineMetrics,
    GenerationJob,
    LocalEngine,
    ReuseMode,
)
from qwenchat.errors import ModelUnavailable, QwenchatError
from qwenchat.protocol import check_for_model
from qwenchat.service.bridge import EventSink, usage_of
from qwenchat.service.constraints import answer_grammar
from qwenchat.service.prepared import PreparedChat
from qwenchat.settings import EngineSettings, UpstreamDeployment
from qwenchat.upstream import Upstream, estimate_prompt_tokens

_log = logging.getLogger("qwenchat.service")


@dataclass
class LocalChat:
    """A validated request queued on a local engine; iterate :meth:`events` exactly once."""

    request: ChatRequest
    profile: ModelProfile
    job: GenerationJob
    sink: EventSink
    started: float

    async def events(self) -> AsyncIterator[ChatEvent]:
        """The request's ChatEvents; leaving early cancels the generation."""
        try:
            async for event in self.sink.events():
                yield event
        finally:
            self.job.cancel()
            self._log()

    def cancel(self) -> None:
        """Stop generating (the client went away before reading)."""
        self.job.cancel()

    async def final_usage(self, timeout: float = 30.0) -> Usage | None:
        """Stop generating and count what was generated (the client went away); None if
        the job failed or does not end within ``timeout`` seconds."""
        self.job.cancel()
        try:
            stats = await asyncio.wait_for(self.sink.final_stats(), timeout)
        except asyncio.TimeoutError:
            return None
        return None if stats is None else usage_of(stats)

    def _log(self) -> None:
        stats = self.sink.stats
        if stats is None:
            _log.info("%s cancelled after %.2fs", self.request.model,
                      time.perf_counter() - self.started)
            return
        _log.info(
            "%s: %d prompt (%d cached) + %d completion (%d reasoning) tokens; queue %.3fs, "
            "prefill %.0f tok/s, decode %.1f tok/s",
            self.request.model, stats.prompt_tokens, stats.cached_tokens,
            stats.completion_tokens, stats.reasoning_tokens, stats.queue_seconds,
            stats.prefill_tokens_per_second, stats.decode_tokens_per_second,
        )


class ChatService:
    """Answers chat requests for every id of the catalog, from local engines and upstream
    deployments."""

    def __init__(self, catalog: Catalog, settings: EngineSettings,
                 deployments: Mapping[str, UpstreamDeployment] | None = None) -> None:
        self.catalog = catalog
        self._upstreams = {name: Upstream(name, config)
                           for name, config in (deployments or {}).items()
                           if name in catalog.upstream_deployments()}
        self._default_system = settings.default_system_prompt
        self._engines: dict[Path, LocalEngine] = {
            path: LocalEngine(EngineConfig(
                path, context_size=settings.context_size, threads=settings.threads,
                batch_size=settings.batch_size, max_queue=settings.max_queue,
                slots=settings.slots, request_timeout=settings.request_timeout or None,
                prefix_cache=ReuseMode(settings.prefix_cache),
                host_cache_mb=settings.host_cache_mb, flash_attention=settings.flash_attention,
                stall_timeout=settings.stall_timeout,
            ))
            for path in catalog.model_files()
        }
        self._templates: dict[Path, ChatTemplate] = {}

    @property
    def is_ready(self) -> bool:
        return all(engine.is_ready for engine in self._engines.values())

    def load_counts(self) -> dict[str, int]:
        """Requests generating now and waiting, over all engines."""
        engines = self._engines.values()
        return {"running": sum(engine.num_running for engine in engines),
                "waiting": sum(engine.num_waiting for engine in engines)}

    def engine_metrics(self) -> dict[str, EngineMetrics]:
        """Each loaded engine's load and totals, by model file name."""
        metrics = {path.name: engine.metrics() for path, engine in self._engines.items()}
        return {name: snapshot for name, snapshot in metrics.items() if snapshot is not None}

    def upstream_status(self) -> dict[str, list[dict[str, Any]]]:
        """Each upstream deployment's replicas: URL, whether up, requests in flight."""
        return {name: [{"url": r.label, "up": r.is_up, "in_flight": r.in_flight}
                       for r in upstream.replicas.replicas]
                for name, upstream in self._upstreams.items()}

    def load(self) -> None:
        """Load every model (blocking: run it off the event loop)."""
        for path, engine in self._engines.items():
            engine.load()
            info = engine.info
            self._templates[path] = ChatTemplate(
                info.chat_template, bos_token=info.bos_token, eos_token=info.eos_token
            )

    def watch_engines(self, now: float) -> dict[str, EngineHealth]:
        """The watchdog's look at every loaded engine (see ``LocalEngine.watch``), by
        model file name."""
        return {path.name: engine.watch(now) for path, engine in self._engines.items()}

    def abort_all(self) -> None:
        """End every running and queued request now (the server is stopping)."""
        for engine in self._engines.values():
            engine.abort_all()

    def close(self) -> None:
        """Stop every engine and free its memory."""
        for engine in self._engines.values():
            engine.close()

    async def start(self) -> None:
        """Open the upstreams' connection pools and health checks (on the event loop)."""
        for upstream in self._upstreams.values():
            await upstream.start()

    async def stop(self) -> None:
        """Close the upstreams' connections."""
        for upstream in self._upstreams.values():
            await upstream.close()

    async def prepare(self, request: ChatRequest, *,
                      admit: Callable[[int, int], Awaitable[None]] | None = None,
                      body: bytes = b"") -> PreparedChat:
        """Validate ``request`` and start it: render, tokenize and queue it on a local
        engine, or open its stream on an upstream replica; raise before any output.

        ``admit`` is called with the prompt's token count (an estimate for an upstream) and
        the most the request may generate (:func:`max_output_tokens`) before anything is
        queued or sent; it refuses the request by raising. ``body`` is
        the request as sent, which an upstream receives (translated to its dialect).
        """
        started = time.perf_counter()
        route = self.catalog.resolve(request.model)
        request = check_for_model(request, route.profile)
        if route.upstream is not None:
            upstream = self._upstreams[route.upstream.deployment]
            # up to the body cap (6 MiB): read in a worker thread, never on the event loop
            wire, estimate = await asyncio.to_thread(_read_wire, body)
            if admit is not None:
                profile = route.profile
                await admit(estimate, max_output_tokens(request, profile, estimate,
                                                        profile.context_window))
            return await upstream.open(wire, request, route.upstream.model, estimate)
        if route.model_file is None:  # the catalog gives every id one or the other
            raise ModelUnavailable()
        engine = self._engines[route.model_file]
        if not engine.is_ready:
            raise ModelUnavailable()
        template = self._templates[route.model_file]
        plan, prompt, constraint = await asyncio.to_thread(self._compile, engine, template,
                                                           request)
        sink = EventSink(asyncio.get_running_loop(), self._outputs(engine, request, plan))
        thinks = plan.thinking
        job = GenerationJob(
            prompt=prompt, sampling=request.sampling, max_tokens=_max_tokens(request),
            sink=sink, n=request.n, constraint=constraint,
            grammar_covers_reasoning=request.grammar is not None,
            thinking_budget=request.thinking_budget if thinks else None,
            end_reasoning=tuple(engine.tokenize(END_REASONING, is_prompt=False)) if thinks else (),
        )
        if admit is not None:
            context = min(route.profile.context_window, engine.n_ctx)
            await admit(len(prompt), max_output_tokens(request, route.profile,
                                                       len(prompt), context))
        engine.submit(job)
        return LocalChat(request, route.profile, job, sink, started)

    def _compile(self, engine: LocalEngine, template: ChatTemplate,
                 request: ChatRequest) -> tuple[PromptPlan, list[int], Constraint | None]:
        """Prompt plan, prompt tokens and compiled answer grammar, checked, and every token
        id the client sent checked against the vocabulary; run off the event loop (long
        conversations and large JSON schemas take a while)."""
        sampling = request.sampling
        for ids in sampling.stop_token_ids:
            engine.check_token_ids(ids, "stop")
        engine.check_token_ids([token for token, _ in sampling.logit_bias], "logit_bias")
        plan = plan_prompt(template, request, self._default_system)
        tokens = engine.tokenize(plan.text)
        engine.check_prompt(tokens)
        grammar = answer_grammar(request, plan.tools)
        constraint = None if grammar is None else engine.compile_grammar(
            grammar.text, what=grammar.what, param=grammar.param)
        return plan, tokens, constraint

    @staticmethod
    def _outputs(engine: LocalEngine, request: ChatRequest,
                 plan: PromptPlan) -> list[ChoiceOutput]:
        """Each choice's output pipeline: stop strings, then the Qwen output parser."""
        stops = request.sampling.stop + tuple(
            engine.detokenize(ids) for ids in request.sampling.stop_token_ids
        )
        return [
            ChoiceOutput(OutputParser(choice, thinking=plan.thinking,
                                      starts_in_reasoning=plan.starts_in_reasoning,
                                      tools=plan.tools,
                                      parallel_tool_calls=request.parallel_tool_calls), stops)
            for choice in range(request.n)
        ]


def max_output_tokens(request: ChatRequest, profile: ModelProfile, prompt_tokens: int,
                      context: int) -> int:
    """The most a checked ``request`` may generate, which the rate limits reserve: per
    choice its ``max_tokens``, plus its thinking budget (the model's maximum if unset) when
    it thinks, but never more than a ``context`` of tokens leaves after the prompt."""
    per_choice = _max_tokens(request)
    if request.enable_thinking:
        per_choice += request.thinking_budget or profile.max_thinking_budget
    per_choice = min(per_choice, max(0, context - prompt_tokens))
    return per_choice * request.n


def _max_tokens(request: ChatRequest) -> int:
    if request.sampling.max_tokens is None:  # check_for_model always sets it: a bug
        raise QwenchatError("The request was not checked against its model.")
    return request.sampling.max_tokens


def _read_wire(body: bytes) -> tuple[dict[str, Any], int]:
    """The body an upstream receives (translated), and its prompt's estimated size."""
    wire = json.loads(body)
    return wire, estimate_prompt_tokens(wire)
