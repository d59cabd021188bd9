"""The automation service (structural_admin domain): lifecycle of tenants and workspaces through the Pulumi
Automation API on the project's own program, with durable operations in the platform's metadata database.

At start it brings the `platform` stack up to date and migrates the metadata (so a fresh platform needs nothing
else), connects as the platform's `automation` login (a NOBYPASSRLS, non-superuser role), recovers operations a
previous process left running, and starts the dispatcher.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import structlog
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from automation import auth
from automation.apikeys.endpoints import router as api_keys_router
from automation.applications.endpoints import router as applications_router
from automation.audit.endpoints import router as audit_router
from automation.audit.publisher import AuditPublisher
from automation.auth import TokenVerifier
from automation.db import create_pool
from automation.drift.endpoints import router as drift_router
from automation.idempotency import IdempotencyMiddleware
from automation.lifecycle import handlers
from automation.observability import Metrics, RequestObservationMiddleware
from automation.observability import router as metrics_router
from automation.operations.dispatcher import Dispatcher
from automation.operations.endpoints import router as operations_router
from automation.operations.engine import StackEngine
from automation.operations.service import finished_hook
from automation.plans.endpoints import router as plans_router
from automation.settings import AutomationSettings
from automation.tenants.endpoints import router as tenants_router
from automation.workspaces.endpoints import router as workspaces_router
from falcone import platform_stack, toolchain
from falcone.http import problems
from falcone.http.middleware import BodyLimitMiddleware, CorrelationIdMiddleware, RejectNulMiddleware

log = structlog.get_logger("automation")


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: AutomationSettings = app.state.settings
    backends = settings.backends()
    stack_settings = settings.effective_stack_settings()
    log.info("bringing the platform stack up to date", state_dir=str(settings.state_dir))
    outputs = await asyncio.to_thread(
        platform_stack.ensure, backends, settings.state_dir, settings.work_dir, stack_settings
    )
    assert backends.keycloak is not None
    app.state.platform = outputs
    app.state.pool = await create_pool(outputs.metadata_dsn(backends, "automation"))
    app.state.verifier = TokenVerifier.for_realm(backends.keycloak.url, outputs.realm)
    assert backends.kafka is not None
    publisher = AuditPublisher(app.state.pool, backends.kafka.client_settings(), outputs.audit_topic)
    app.state.audit_publisher = publisher
    await publisher.start()
    engine = StackEngine(backends, settings.state_dir, settings.work_dir, stack_settings)
    app.state.dispatcher = Dispatcher(
        app.state.pool,
        engine,
        handlers(),
        worker=settings.worker_id,
        max_parallel=settings.max_parallel_operations,
        on_finished=[finished_hook(app.state.pool, app.state.metrics, publisher)],
    )
    await app.state.dispatcher.start()
    log.info("ready", realm=outputs.realm, metadata=outputs.metadata_database, audit_topic=outputs.audit_topic)
    try:
        yield
    finally:
        await app.state.dispatcher.stop()
        await publisher.stop()
        await app.state.verifier.aclose()
        await app.state.pool.close()


def create_app(settings: AutomationSettings | None = None, *, serve_lifecycle: bool = True) -> FastAPI:
    """`serve_lifecycle=False` builds the routes without connecting anything (OpenAPI, in-process tests)."""
    settings = settings or AutomationSettings()
    app = FastAPI(
        title="Falcone automation",
        version="0.1.0",
        openapi_url="/v1/openapi.json",
        lifespan=lifespan if serve_lifecycle else None,
        # Every route may answer these, always as problem+json (the 422 replaces FastAPI's application/json one).
        responses=problems.problem_responses(400, 401, 403, 422, 500, 503),
    )
    app.state.settings = settings
    app.state.metrics = Metrics()
    problems.install(app)
    auth.install(app)
    for router in (
        plans_router,
        tenants_router,
        workspaces_router,
        applications_router,
        api_keys_router,
        operations_router,
        drift_router,
        audit_router,
        metrics_router,
    ):
        app.include_router(router)

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"], responses={503: {"description": "a dependency is missing"}})
    async def readyz() -> dict[str, str]:
        built = toolchain.load()
        if not built.pulumi.exists():
            raise problems.Problem(503, "the Pulumi toolchain is not built: scripts/setup")
        pool = getattr(app.state, "pool", None)
        if pool is None:
            raise problems.Problem(503, "not connected to the metadata database yet")
        try:
            async with pool.acquire(timeout=2) as connection:
                await connection.fetchval("SELECT 1")
        except (OSError, TimeoutError, asyncpg.PostgresError) as error:
            raise problems.Problem(503, f"the metadata database does not answer: {error}") from None
        publisher: AuditPublisher = app.state.audit_publisher
        # Audit events wait in PostgreSQL while Kafka is away: the service stays ready and says so.
        audit = "ok" if publisher.failures == 0 else f"retrying ({publisher.last_error})"
        return {"status": "ready", "pulumi": built.pulumi_version, "audit_publisher": audit}

    @app.exception_handler(asyncpg.CharacterNotInRepertoireError)
    @app.exception_handler(asyncpg.UntranslatableCharacterError)
    async def _unstorable_text(request: Request, _error: Exception) -> JSONResponse:
        return problems.problem_response(request, 422, "text values may not contain NUL characters")

    # Added last = outermost: every response, the 413 and 400 included, carries the correlation id and is
    # counted and logged; idempotent replays happen inside the size limit.
    app.add_middleware(IdempotencyMiddleware)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(RejectNulMiddleware)
    app.add_middleware(RequestObservationMiddleware, metrics=app.state.metrics)
    app.add_middleware(CorrelationIdMiddleware)
    return app
