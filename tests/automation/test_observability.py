"""Metrics and logs of the automation service, in process: Prometheus exposition of the app's own registry,
route-template labels (a client cannot create label values), and JSON log lines carrying the correlation id."""

from __future__ import annotations

import io
import json
import logging
from typing import Any

import httpx2
import structlog
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from automation.observability import (
    OTHER_METHOD,
    UNMATCHED,
    Metrics,
    RequestObservationMiddleware,
)
from automation.observability import router as metrics_router
from falcone.http import problems
from falcone.http.middleware import BodyLimitMiddleware, CorrelationIdMiddleware
from tests.log_fixtures import log_stream

__all__ = ["log_stream"]  # a fixture of this module's tests

handler_log = structlog.get_logger("tests.observability")


def observed_app(metrics: Metrics) -> FastAPI:
    app = FastAPI()
    app.state.metrics = metrics
    problems.install(app)
    app.include_router(metrics_router)

    @app.get("/things/{thing}")
    async def get_thing(thing: str) -> dict[str, str]:
        handler_log.info("thing read", thing=thing)
        logging.getLogger("tests.stdlib").warning("from the standard library")
        return {"thing": thing}

    @app.post("/things")
    async def post_thing() -> dict[str, str]:
        return {}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("unexpected")

    # The order create_app uses: correlation ids outermost, then observation, then the body limit.
    app.add_middleware(BodyLimitMiddleware, max_bytes=1024)
    app.add_middleware(RequestObservationMiddleware, metrics=metrics)
    app.add_middleware(CorrelationIdMiddleware)
    return app


def client(app: FastAPI) -> httpx2.AsyncClient:
    transport = httpx2.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx2.AsyncClient(transport=transport, base_url="http://automation")


def samples(exposition: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
    }


def sample(values: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    return values.get((name, frozenset(labels.items())), 0.0)


async def test_requests_are_counted_by_route_template_not_by_path() -> None:
    async with client(observed_app(Metrics())) as http:
        for thing in ("a", "b", "c"):
            assert (await http.get(f"/things/{thing}")).status_code == 200
        assert (await http.get("/things-that-do-not-exist/x")).status_code == 404
        assert (await http.request("BREW", "/things/a")).status_code == 405
        assert (await http.post("/things", content=b"x" * 2048)).status_code == 413
        assert (await http.get("/boom")).status_code == 500
        exposition = await http.get("/metrics")
    assert exposition.status_code == 200
    assert exposition.headers["content-type"].startswith("text/plain")
    values = samples(exposition.text)
    assert sample(values, "falcone_http_requests_total", method="GET", route="/things/{thing}", status="200") == 3
    assert sample(values, "falcone_http_request_duration_seconds_count", route="/things/{thing}") >= 3
    # Unknown paths and methods do not become label values.
    assert sample(values, "falcone_http_requests_total", method="GET", route=UNMATCHED, status="404") == 1
    assert (
        sample(values, "falcone_http_requests_total", method=OTHER_METHOD, route="/things/{thing}", status="405") == 1
    )
    assert sample(values, "falcone_http_requests_total", method="POST", route=UNMATCHED, status="413") == 1
    assert sample(values, "falcone_http_requests_total", method="GET", route="/boom", status="500") == 1
    labels = {dict(labelled)["route"] for name, labelled in values if name == "falcone_http_requests_total"}
    assert labels == {"/things/{thing}", UNMATCHED, "/boom"}


async def test_operations_are_counted_by_kind_and_status() -> None:
    metrics = Metrics()
    metrics.operation_finished("tenant.create", "succeeded", 42.0)
    metrics.operation_finished("tenant.create", "succeeded", 3.0)
    metrics.operation_finished("workspace.delete", "failed", 7.5)
    async with client(observed_app(metrics)) as http:
        values = samples((await http.get("/metrics")).text)
    assert sample(values, "falcone_operations_total", kind="tenant.create", status="succeeded") == 2
    assert sample(values, "falcone_operations_total", kind="workspace.delete", status="failed") == 1
    assert sample(values, "falcone_operation_duration_seconds_count", kind="tenant.create") == 2
    assert sample(values, "falcone_operation_duration_seconds_sum", kind="tenant.create") == 45.0
    assert sample(values, "falcone_operation_duration_seconds_bucket", kind="workspace.delete", le="15.0") == 1


async def test_two_apps_keep_their_own_registries() -> None:
    first, second = Metrics(), Metrics()
    first.operation_finished("tenant.create", "succeeded", 1.0)
    async with client(observed_app(second)) as http:
        values = samples((await http.get("/metrics")).text)
    assert sample(values, "falcone_operations_total", kind="tenant.create", status="succeeded") == 0
    assert (
        sample(
            samples(first.exposition().decode()), "falcone_operations_total", kind="tenant.create", status="succeeded"
        )
        == 1
    )


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


async def test_logs_are_json_lines_with_the_correlation_id(log_stream: io.StringIO) -> None:
    async with client(observed_app(Metrics())) as http:
        response = await http.get("/things/a", headers={"X-Correlation-Id": "corr-log-1"})
        assert response.status_code == 200
        unmatched = await http.get("/things-that-do-not-exist")
    logged = lines(log_stream)
    handler = next(line for line in logged if line["event"] == "thing read")
    assert handler["correlation_id"] == "corr-log-1"
    assert (handler["level"], handler["logger"], handler["thing"]) == ("info", "tests.observability", "a")
    assert handler["timestamp"].endswith("Z")
    stdlib = next(line for line in logged if line["event"] == "from the standard library")
    assert (stdlib["correlation_id"], stdlib["level"]) == ("corr-log-1", "warning")
    access = [line for line in logged if line["event"] == "request"]
    assert len(access) == 2
    assert access[0]["correlation_id"] == "corr-log-1"
    assert (access[0]["method"], access[0]["route"], access[0]["status"]) == ("GET", "/things/{thing}", 200)
    assert access[0]["duration_ms"] >= 0
    # A generated id: the one echoed to the client.
    assert access[1]["route"] == UNMATCHED
    assert access[1]["correlation_id"] == unmatched.headers["x-correlation-id"]
    # Nothing stays bound after the request.
    handler_log.info("after the requests")
    assert "correlation_id" not in lines(log_stream)[-1]


async def test_an_unexpected_error_is_logged_with_its_traceback(log_stream: io.StringIO) -> None:
    async with client(observed_app(Metrics())) as http:
        response = await http.get("/boom", headers={"X-Correlation-Id": "corr-boom"})
    assert response.status_code == 500
    access = next(line for line in lines(log_stream) if line["event"] == "request")
    assert (access["status"], access["correlation_id"], access["level"]) == (500, "corr-boom", "error")
    assert access["exception"][0]["exc_type"] == "RuntimeError"
    assert access["exception"][0]["frames"]
