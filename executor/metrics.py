"""Prometheus metrics on a registry of the app's own (several apps in one process do not collide), and the access
log: one JSON line per request (structlog, `falcone.logs`) with the correlation id, the route template, the status,
the duration and the verified caller (tenant, workspace, credential kind and key id or subject; never a secret).

Labels are bounded: the route *template* (never the raw path, whose ids would explode cardinality, Falcone #982),
the method and the status class.
"""

from __future__ import annotations

import logging
import time

import structlog
from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from executor.identity.schemas import Identity

access_log = structlog.get_logger("executor.access")
# structlog hands events to the standard library: skip building the line when its level is off (load tests).
_access_enabled = logging.getLogger("executor.access").isEnabledFor


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "executor_requests", "HTTP requests", ["method", "route", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "executor_request_seconds",
            "HTTP request latency",
            ["method", "route"],
            buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10),
            registry=self.registry,
        )
        self.identity_failures = Counter(
            "executor_identity_failures", "requests refused for their credential", registry=self.registry
        )


class MetricsMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), 500
        state = scope.setdefault("state", {})

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        error: BaseException | None = None
        with structlog.contextvars.bound_contextvars(correlation_id=state.get("correlation_id", "")):
            try:
                await self.app(scope, receive, record_status)
            except BaseException as raised:
                error = raised
                raise
            finally:
                seconds = time.perf_counter() - started
                route = scope.get("route")
                template = getattr(route, "path", "unmatched")
                method = scope["method"]
                self.metrics.requests.labels(method, template, f"{status // 100}xx").inc()
                self.metrics.latency.labels(method, template).observe(seconds)
                if status == 401:
                    self.metrics.identity_failures.inc()
                if error is not None or status >= 500:
                    access_log.error("request", **_fields(method, template, status, seconds, state), exc_info=error)
                elif _access_enabled(logging.INFO):
                    access_log.info("request", **_fields(method, template, status, seconds, state))


def _fields(method: str, route: str, status: int, seconds: float, state: dict[str, object]) -> dict[str, object]:
    fields: dict[str, object] = {
        "method": method,
        "route": route,
        "status": status,
        "duration_ms": round(seconds * 1000, 2),
    }
    identity = state.get("identity")
    if isinstance(identity, Identity):
        fields |= {
            "tenant": identity.tenant,
            "workspace": identity.workspace,
            "credential": identity.kind,
            "subject": identity.subject,
        }
    return fields
