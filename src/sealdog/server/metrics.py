"""Prometheus metrics: requests, latency, e-mails scored, errors.

Each app gets its own registry (tests build many apps in one process). When
PROMETHEUS_MULTIPROC_DIR is set (`sealdog server run --workers N` sets it), the values
live in files shared by the worker processes and /metrics aggregates them all.
"""

from __future__ import annotations

import os
import time

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class ServerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "sealdog_http_requests",
            "HTTP requests handled.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "sealdog_http_request_duration_seconds",
            "HTTP request latency.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.emails_scored = Counter(
            "sealdog_emails_scored",
            "E-mails scored with a sealed model.",
            ["kind", "mode", "delivery"],
            registry=self.registry,
        )
        self.scoring_restarts = Counter(
            "sealdog_scoring_process_restarts",
            "Scoring processes killed and replaced, by reason (timeout, cancelled, died, memory).",
            ["reason"],
            registry=self.registry,
        )
        for reason in ("timeout", "cancelled", "died", "memory"):
            self.scoring_restarts.labels(reason)  # exported from the start, at 0
        self.errors = Counter(
            "sealdog_http_errors",
            "HTTP responses with status >= 400.",
            ["route", "status"],
            registry=self.registry,
        )

    def exposition(self) -> tuple[bytes, str]:
        """The text exposition format, aggregated over worker processes if multiprocess."""
        multiproc_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        if multiproc_dir and os.path.isdir(multiproc_dir):
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry, path=multiproc_dir)  # type: ignore[no-untyped-call]
            return generate_latest(registry), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


def _route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    # Unmatched paths share one label so a scanner cannot blow up the label space.
    return path if isinstance(path, str) else "<unmatched>"


class MetricsMiddleware:
    """Counts and times every HTTP request by route template (pure ASGI, no body buffering)."""

    def __init__(self, app: ASGIApp, metrics: ServerMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = _route_template(scope)
            method = scope.get("method", "")
            self.metrics.requests.labels(method, route, str(status)).inc()
            self.metrics.latency.labels(method, route).observe(time.perf_counter() - start)
            if status >= 400:
                self.metrics.errors.labels(route, str(status)).inc()
