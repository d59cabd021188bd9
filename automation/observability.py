"""Metrics and logs of the automation service.

Metrics live in a registry of the app (`app.state.metrics`), not prometheus-client's global one, so several apps
in one process (tests) never collide. HTTP metrics are labelled by the route template and a known method, never
by the raw path or method a client sent: a client must not be able to create label values (cardinality).

Logs are JSON lines on stderr through structlog; the request middleware binds the correlation id (and the
subject, once known) to the request's context, so every line logged while serving it carries them.
"""

from __future__ import annotations

import time
from typing import Annotated

import structlog
from fastapi import APIRouter, Depends, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

UNMATCHED = "<unmatched>"
OTHER_METHOD = "OTHER"
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Stack operations take seconds to many minutes; requests milliseconds to seconds.
OPERATION_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1200, 2400, float("inf"))

access_log = structlog.get_logger("automation.access")


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.operations = Counter(
            "falcone_operations",
            "Lifecycle operations finished, by kind and final status.",
            ["kind", "status"],
            registry=self.registry,
        )
        self.operation_duration = Histogram(
            "falcone_operation_duration_seconds",
            "Duration of lifecycle operations from start to end, by kind.",
            ["kind"],
            buckets=OPERATION_BUCKETS,
            registry=self.registry,
        )
        self.http_requests = Counter(
            "falcone_http_requests",
            "HTTP requests answered, by method, route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.http_duration = Histogram(
            "falcone_http_request_duration_seconds",
            "Time to answer HTTP requests, by route template.",
            ["route"],
            registry=self.registry,
        )

    def operation_finished(self, kind: str, status: str, seconds: float) -> None:
        self.operations.labels(kind=kind, status=status).inc()
        self.operation_duration.labels(kind=kind).observe(seconds)

    def request_finished(self, method: str, route: str, status: int, seconds: float) -> None:
        self.http_requests.labels(method=method, route=route, status=str(status)).inc()
        self.http_duration.labels(route=route).observe(seconds)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


def metrics(request: Request) -> Metrics:
    return request.app.state.metrics  # type: ignore[no-any-return]


AppMetrics = Annotated[Metrics, Depends(metrics)]

router = APIRouter(tags=["health"])


@router.get("/metrics", include_in_schema=False)
async def exposition(app_metrics: AppMetrics) -> Response:
    return Response(app_metrics.exposition(), media_type=CONTENT_TYPE_LATEST)


def route_template(scope: Scope) -> str:
    route = scope.get("route")
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    return str(template) if template else UNMATCHED


class RequestObservationMiddleware:
    """Counts and times every HTTP request and writes its one access log line.

    Sits inside the correlation-id middleware (it logs the id) and outside the body limit and idempotency (their
    413s and replays are requests too). The subject is that of the principal authentication keeps in the request
    state (`request.state.principal`), when there is one.
    """

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        method = scope["method"] if scope["method"] in KNOWN_METHODS else OTHER_METHOD
        status = 500  # what the client gets when the app raises before answering
        started = time.perf_counter()

        async def observe(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        with structlog.contextvars.bound_contextvars(correlation_id=state.get("correlation_id", "")):
            error: BaseException | None = None
            try:
                await self.app(scope, receive, observe)
            except BaseException as raised:
                error = raised
                raise
            finally:
                seconds = time.perf_counter() - started
                route = route_template(scope)
                self.metrics.request_finished(method, route, status, seconds)
                fields = {
                    "method": method,
                    "route": route,
                    "status": status,
                    "duration_ms": round(seconds * 1000, 2),
                    "subject": getattr(state.get("principal"), "subject", None),
                }
                if error is None:
                    access_log.info("request", **fields)
                else:  # the traceback, on the line that carries the correlation id
                    access_log.error("request", **fields, exc_info=error)
