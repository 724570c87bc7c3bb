"""Token-level generation on llama.cpp: the only package that imports ``llama_cpp``.

Public facade: :class:`LocalEngine` (load a GGUF, tokenize, submit jobs),
:class:`GenerationJob` and the :class:`TokenSink` it reports through.
"""

from qwenchat.engine.constraint import Constraint
from qwenchat.engine.grammars import (
    gbnf_grammar,
    json_object_grammar,
    json_schema_grammar,
    tool_call_grammar,
)
from qwenchat.engine.job import EndReason, GenerationJob, GenerationStats, TokenSink
from qwenchat.engine.llama import ModelInfo
from qwenchat.engine.local import (
    EngineConfig,
    EngineHealth,
    LocalEngine,
    default_slots,
    default_threads,
)
from qwenchat.engine.metrics import EngineMetrics
from qwenchat.engine.prefixes import ReuseMode

__all__ = [
    "Constraint",
    "EndReason",
    "EngineConfig",
    "EngineHealth",
    "EngineMetrics",
    "GenerationJob",
    "GenerationStats",
    "LocalEngine",
    "ModelInfo",
    "ReuseMode",
    "TokenSink",
    "default_slots",
    "default_threads",
    "gbnf_grammar",
    "json_object_grammar",
    "json_schema_grammar",
    "tool_call_grammar",
]
