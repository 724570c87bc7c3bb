"""``LocalBackend``: the ids whose route is a GGUF file, answered by this process's
llama.cpp engines (one ``LocalEngine`` per distinct file of the catalog).

Opening a request compiles it off the event loop: the Qwen chat template renders the prompt
(``chat.plan_prompt``), the engine tokenizes it and checks its length and every token id the
client sent, and the answer's grammar (``constraints.py``) is compiled. Then the request is
admitted by its prompt size and the most it may generate within the context, and queued as a
``GenerationJob`` whose ``EventSink`` (``bridge.py``) turns its tokens into ChatEvents
through each choice's stop strings and Qwen output parser. A thinking request whose thinking
budget runs out gets :data:`END_REASONING` injected, which closes its reasoning.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from qwenchat.catalog import Catalog, Route
from qwenchat.chat import ChatTemplate, ChoiceOutput, OutputParser, PromptPlan, plan_prompt
from qwenchat.core import ChatEvent, ChatRequest, ModelProfile, Usage
from qwenchat.core.qwen_format import END_REASONING
from qwenchat.engine import (
    Constraint,
    EngineConfig,
    EngineHealth,
    GenerationJob,
    LocalEngine,
    ReuseMode,
)
from qwenchat.errors import InvalidParameter, ModelUnavailable
from qwenchat.service.backend import (
    Admit,
    BackendStatus,
    RoutedChat,
    checked_max_tokens,
    max_output_tokens,
)
from qwenchat.service.bridge import EventSink, usage_of
from qwenchat.service.constraints import answer_grammar
from qwenchat.settings import EngineSettings

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


class LocalBackend:
    """The catalog's model files, each loaded once into a ``LocalEngine``."""

    def __init__(self, catalog: Catalog, settings: EngineSettings) -> None:
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

    def serves(self, route: Route) -> bool:
        return route.model_file in self._engines

    async def open(self, chat: RoutedChat, admit: Admit) -> LocalChat:
        """Render, tokenize and check the request, admit it and queue it on its engine."""
        started = time.perf_counter()
        request, profile = chat.request, chat.route.profile
        assert chat.route.model_file is not None  # see serves()
        if request.enable_search:
            raise InvalidParameter(f"Web search (enable_search) is not available for the "
                                   f"model {request.model} on this server.",
                                   param="enable_search")
        engine = self._engines[chat.route.model_file]
        if not engine.is_ready:
            raise ModelUnavailable()
        template = self._templates[chat.route.model_file]
        plan, prompt, constraint = await asyncio.to_thread(self._compile, engine, template,
                                                           request)
        sink = EventSink(asyncio.get_running_loop(), self._outputs(engine, request, plan))
        thinks = plan.thinking
        job = GenerationJob(
            prompt=prompt, sampling=request.sampling, max_tokens=checked_max_tokens(request),
            max_completion_tokens=request.sampling.max_completion_tokens,
            sink=sink, n=request.n, constraint=constraint,
            grammar_covers_reasoning=request.grammar is not None,
            thinking_budget=request.thinking_budget if thinks else None,
            end_reasoning=tuple(engine.tokenize(END_REASONING, is_prompt=False)) if thinks else (),
        )
        context = min(profile.context_window, engine.n_ctx)
        await admit(len(prompt), max_output_tokens(request, profile, len(prompt), context))
        engine.submit(job)
        return LocalChat(request, profile, job, sink, started)

    async def start(self) -> None:
        """Nothing to open: the engines start when they load."""

    def load(self) -> None:
        """Load every model (blocking: run it off the event loop)."""
        for path, engine in self._engines.items():
            engine.load()
            info = engine.info
            self._templates[path] = ChatTemplate(
                info.chat_template, bos_token=info.bos_token, eos_token=info.eos_token
            )

    def status(self) -> BackendStatus:
        engines = self._engines.items()
        metrics = {path.name: engine.metrics() for path, engine in engines}
        return BackendStatus(
            is_ready=all(engine.is_ready for _, engine in engines),
            running=sum(engine.num_running for _, engine in engines),
            waiting=sum(engine.num_waiting for _, engine in engines),
            engines={name: snapshot for name, snapshot in metrics.items()
                     if snapshot is not None})

    def watch(self, now: float) -> Mapping[str, EngineHealth]:
        """Each engine's health (see ``LocalEngine.watch``), by model file name."""
        return {path.name: engine.watch(now) for path, engine in self._engines.items()}

    def abort_all(self) -> None:
        for engine in self._engines.values():
            engine.abort_all()

    async def stop(self) -> None:
        """Stop every engine and free its memory (in a worker thread)."""
        await asyncio.to_thread(self._close)

    def _close(self) -> None:
        for engine in self._engines.values():
            engine.close()

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
