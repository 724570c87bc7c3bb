"""Prometheus metrics of the gateway and the engines, for ``/metrics``.

Each app owns one :class:`GatewayMetrics` with its own registry (no module-level state).
Request metrics are recorded as requests end; engine numbers (queue depth, slot use, prefix
hits) are read when ``/metrics`` is scraped, from a callable the service provides, so the
hot path pays nothing for them.

Families (all prefixed ``qwenchat_``): ``requests_total{model,status,code}``,
``request_duration_seconds{model}``, ``time_to_first_token_seconds{model}``,
``tokens_total{model,kind}`` (kind: prompt, completion, cached, reasoning),
``rate_limit_rejections_total{model,code}``, ``requests_in_progress{model}``, and per engine
``engine_slots``, ``engine_slots_busy``, ``engine_requests_running``,
``engine_queue_depth``, ``engine_prefix_cache_hit_ratio``, ``engine_prompt_tokens_total``,
``engine_cached_tokens_total``, ``engine_completion_tokens_total``, and per upstream
replica ``upstream_replica_up`` and ``upstream_requests_in_flight``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

EngineSamples = Callable[[], Mapping[str, Mapping[str, float]]]
"""Engine name -> its numbers (the fields of ``EngineMetrics`` and ``prefix_hit_rate``)."""

UpstreamSamples = Callable[[], Mapping[str, list[dict[str, Any]]]]
"""Deployment name -> its replicas (``url``, ``up``, ``in_flight``)."""

_LATENCY_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
_TTFT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

_ENGINE_GAUGES = {
    "slots": "Sequence slots of the engine.",
    "slots_busy": "Slots holding a request.",
    "running": "Requests generating.",
    "waiting": "Requests waiting for a slot.",
    "prefix_hit_rate": "Share of prompt tokens read from the KV cache.",
}
_ENGINE_NAMES = {"running": "requests_running", "waiting": "queue_depth",
                 "prefix_hit_rate": "prefix_cache_hit_ratio"}
_ENGINE_COUNTERS = {
    "prompt_tokens_total": "Prompt tokens the engine has read or reused.",
    "cached_tokens_total": "Prompt tokens reused from the KV cache.",
    "completion_tokens_total": "Tokens the engine has generated.",
}


class GatewayMetrics:
    """The counters and histograms one app records into, and their text exposition."""

    def __init__(self) -> None:
        # no ``*_created`` series: they would double the output
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter("qwenchat_requests", "Chat requests by outcome.",
                                ["model", "status", "code"], registry=self.registry)
        self.duration = Histogram("qwenchat_request_duration_seconds",
                                  "Time from request to last byte.", ["model"],
                                  buckets=_LATENCY_BUCKETS, registry=self.registry)
        self.ttft = Histogram("qwenchat_time_to_first_token_seconds",
                              "Time from request to the first generated text.", ["model"],
                              buckets=_TTFT_BUCKETS, registry=self.registry)
        self.tokens = Counter("qwenchat_tokens", "Tokens of completed requests.",
                              ["model", "kind"], registry=self.registry)
        self.rejections = Counter("qwenchat_rate_limit_rejections",
                                  "Requests refused by a rate limit or quota.",
                                  ["model", "code"], registry=self.registry)
        self.in_progress = Gauge("qwenchat_requests_in_progress",
                                 "Chat requests being answered.", ["model"],
                                 registry=self.registry)

    def watch_engines(self, engines: EngineSamples) -> None:
        """Report the numbers ``engines`` returns at each scrape (call once)."""
        self.registry.register(_EngineCollector(engines))

    def watch_upstreams(self, upstreams: UpstreamSamples) -> None:
        """Report the replicas ``upstreams`` lists at each scrape (call once)."""
        self.registry.register(_UpstreamCollector(upstreams))

    def exposition(self) -> bytes:
        """The registry in Prometheus's text format."""
        return generate_latest(self.registry)


class _EngineCollector(Collector):
    """Reads the engines' numbers at scrape time."""

    def __init__(self, engines: EngineSamples) -> None:
        self._engines = engines

    def collect(self) -> Iterator[Metric]:
        samples = self._engines()
        for field, text in _ENGINE_GAUGES.items():
            family = GaugeMetricFamily(f"qwenchat_engine_{_ENGINE_NAMES.get(field, field)}",
                                       text, labels=["engine"])
            for engine, numbers in samples.items():
                family.add_metric([engine], float(numbers.get(field, 0.0)))
            yield family
        for field, text in _ENGINE_COUNTERS.items():
            counter = CounterMetricFamily(f"qwenchat_engine_{field.removesuffix('_total')}",
                                          text, labels=["engine"])
            for engine, numbers in samples.items():
                counter.add_metric([engine], float(numbers.get(field, 0.0)))
            yield counter


class _UpstreamCollector(Collector):
    """Reads the upstream replicas' state at scrape time."""

    def __init__(self, upstreams: UpstreamSamples) -> None:
        self._upstreams = upstreams

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("qwenchat_upstream_replica_up",
                               "1 while an upstream replica takes requests.",
                               labels=["deployment", "replica"])
        in_flight = GaugeMetricFamily("qwenchat_upstream_requests_in_flight",
                                      "Requests an upstream replica is answering.",
                                      labels=["deployment", "replica"])
        for deployment, replicas in self._upstreams().items():
            for replica in replicas:
                labels = [deployment, str(replica["url"])]
                up.add_metric(labels, 1.0 if replica["up"] else 0.0)
                in_flight.add_metric(labels, float(replica["in_flight"]))
        yield up
        yield in_flight
