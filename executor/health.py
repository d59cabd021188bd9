"""Liveness, readiness (metadata, Vault, and the database server of the workspaces) and metrics."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from falcone.http.problems import Problem

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "a dependency does not answer"}})
async def readyz(request: Request) -> dict[str, str]:
    state = request.app.state
    checks = {
        "metadata": state.check_metadata(),
        "vault": state.credentials.ping(),
        "postgres": _reachable(state.settings.postgres_host, state.settings.postgres_port),
    }
    results = await asyncio.gather(*(asyncio.wait_for(check, 3) for check in checks.values()), return_exceptions=True)
    failed = sorted(name for name, result in zip(checks, results, strict=True) if isinstance(result, BaseException))
    if failed:
        raise Problem(503, f"not ready: {', '.join(failed)} did not answer", failed=failed)
    return {"status": "ready"}


async def _reachable(host: str, port: int) -> None:
    # The workspaces' credentials are per workspace; what the service itself depends on is the server answering.
    _, writer = await asyncio.open_connection(host, port)
    writer.close()
    await writer.wait_closed()


@router.get("/metrics", response_class=Response)
async def metrics(request: Request) -> Response:
    return Response(generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
