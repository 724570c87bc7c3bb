"""OpenAI-compatible upstreams (vLLM, SGLang, llama-server, DashScope): dialect translation,
replica health, routing and failover.

The public face: :class:`Upstream` (one ``[deployments.<name>]``: ``start``, ``open``,
``close``), :class:`UpstreamCall` (one request's stream: ``events``, ``cancel``,
``final_usage``), :class:`Dialect`, and :func:`estimate_prompt_tokens` (the admission count
before the upstream has counted the prompt). It imports only :mod:`qwenchat.core`,
:mod:`qwenchat.errors` and :mod:`qwenchat.settings` (and aiohttp).
"""

from qwenchat.upstream.call import UpstreamCall
from qwenchat.upstream.deployment import Upstream, conversation_key, estimate_prompt_tokens
from qwenchat.upstream.dialects import Dialect, chunk_events, error_from, upstream_body
from qwenchat.upstream.replicas import Replica, ReplicaSet

__all__ = [
    "Dialect",
    "Replica",
    "ReplicaSet",
    "Upstream",
    "UpstreamCall",
    "chunk_events",
    "conversation_key",
    "error_from",
    "estimate_prompt_tokens",
    "upstream_body",
]
