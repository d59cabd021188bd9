"""The executor (data_access domain): a workspace's data through its verified credential, isolation enforced by
the database (every request one transaction under a NOBYPASSRLS role with the tenant context set).

This step serves PostgreSQL tables: the documents API (`/v1/collections`) and a PostgREST-compatible mount
(`/rest/v1`), plus health, readiness and metrics.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import httpx2
from fastapi import FastAPI

from executor import health
from executor.data.credentials import VaultCredentials
from executor.data.pools import WorkspacePools
from executor.documents import endpoints as mongo_collections
from executor.documents.clients import WorkspaceClients
from executor.documents.service import DocumentsService
from executor.events import endpoints as events
from executor.events.service import EventsService
from executor.idempotency import IdempotencyMiddleware
from executor.identity import repository as identity_repository
from executor.identity.service import IdentityResolver
from executor.identity.tokens import Jwks
from executor.limits import RateLimiter
from executor.metrics import Metrics, MetricsMiddleware
from executor.objects import endpoints as objects
from executor.objects.clients import StorageClients
from executor.objects.service import ObjectsService
from executor.objects.usage import UsageMeter
from executor.realtime import endpoints as realtime
from executor.realtime.documents import document_feed_opener
from executor.realtime.feeds import FeedRegistry, table_feed_opener
from executor.realtime.service import RealtimeService
from executor.settings import ExecutorSettings
from executor.tables import endpoints as collections
from executor.tables import rest
from executor.tables.service import TablesService
from falcone.http import problems
from falcone.http.middleware import BodyLimitMiddleware, CorrelationIdMiddleware


def create_app(settings: ExecutorSettings | None = None) -> FastAPI:
    settings = settings or ExecutorSettings()
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if not settings.metadata_dsn.get_secret_value() or not settings.vault_token.get_secret_value():
            raise RuntimeError("set FALCONE_EXECUTOR_METADATA_DSN (the `keys` login) and FALCONE_EXECUTOR_VAULT_TOKEN")
        metadata = await asyncpg.create_pool(
            settings.metadata_dsn.get_secret_value(), min_size=1, max_size=settings.metadata_pool_size
        )
        assert metadata is not None
        http = httpx2.AsyncClient(timeout=5.0)
        credentials = VaultCredentials(
            http, settings.vault_address, settings.vault_token.get_secret_value(), settings.vault_mount
        )
        pools = WorkspacePools(
            credentials, settings.postgres_host, settings.postgres_port, settings.pool_size, settings.max_pools
        )
        app.state.credentials = credentials
        app.state.metadata = metadata
        app.state.check_metadata = lambda: identity_repository.ping(metadata)
        app.state.identity = IdentityResolver(settings, metadata, Jwks(http, settings.jwks_ttl_s))
        app.state.tables = TablesService(settings, pools)
        mongo_clients = WorkspaceClients(
            credentials,
            settings.mongo_url,
            settings.mongo_pool_size,
            settings.mongo_max_clients,
            settings.mongo_timeout_ms,
        )
        app.state.documents = DocumentsService(settings, mongo_clients)
        feed_limits = {
            "max_feeds": settings.realtime_max_workspaces,
            "max_inboxes": settings.realtime_max_subscriptions,
            "inbox_size": settings.realtime_queue_size,
        }
        realtime_service = RealtimeService(
            settings,
            app.state.tables,
            pools,
            FeedRegistry(table_feed_opener(credentials, settings.postgres_host, settings.postgres_port), **feed_limits),
            mongo_clients,
            FeedRegistry(document_feed_opener(mongo_clients), **feed_limits),
        )
        app.state.realtime = realtime_service
        storage = StorageClients(
            credentials,
            endpoint=settings.s3_endpoint,
            public_endpoint=settings.s3_public_endpoint,
            region=settings.s3_region,
            max_clients=settings.max_storage_clients,
            connections=settings.storage_connections,
            timeout_s=settings.storage_timeout_s,
        )
        usage = UsageMeter(settings.storage_usage_ttl_s, settings.max_storage_clients)
        app.state.objects = ObjectsService(settings, storage, usage)
        kafka = EventsService(settings, credentials)
        app.state.events = kafka
        try:
            yield
        finally:
            await realtime_service.close()
            await pools.close()
            await mongo_clients.close()
            await storage.close()
            await kafka.close()
            await metadata.close()
            await http.aclose()

    app = FastAPI(title="Falcone executor", version="0.1.0", openapi_url="/v1/openapi.json", lifespan=lifespan)
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.limiter = RateLimiter(multiplier=settings.rate_limit_multiplier)
    problems.install(app)
    # Routes are matched in order: the PostgREST mount (the hottest path) first.
    app.include_router(rest.router)
    app.include_router(collections.router)
    app.include_router(mongo_collections.router)
    app.include_router(objects.router)
    app.include_router(events.router)
    app.include_router(realtime.router)
    app.include_router(health.router)
    # Added innermost first: every response, the 413 included, carries the correlation id, is counted and logged
    # with it; an idempotent replay reads a body the limit already let through.
    app.add_middleware(IdempotencyMiddleware)
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=settings.max_body_bytes,
        route_limit=objects.upload_body_limit(settings.max_object_bytes),
    )
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.add_middleware(CorrelationIdMiddleware)
    return app
