"""Idempotency keys of the executor's POSTs (inserts, publishes, RPC-like calls): records per verified credential
(tenant, workspace, kind and key id or token subject), in the metadata database's `data_idempotency_records`,
written by the `keys` login. The mechanism is `falcone.http.idempotency`."""

from __future__ import annotations

from typing import Any

import asyncpg
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Scope

from executor.identity.service import IdentityResolver
from falcone.http import idempotency
from falcone.http.problems import Problem


async def credential_subject(scope: Scope) -> str | None:
    resolver: IdentityResolver | None = getattr(scope["app"].state, "identity", None)
    if resolver is None:
        return None
    try:
        identity = await resolver.resolve(Headers(scope=scope))
    except Problem:  # the endpoint answers it (401/403); nothing is recorded
        return None
    return f"{identity.tenant}/{identity.workspace}/{identity.kind}:{identity.subject}"


def metadata_pool(scope: Scope) -> asyncpg.Pool:
    pool: asyncpg.Pool = scope["app"].state.metadata
    return pool


class IdempotencyMiddleware(idempotency.IdempotencyMiddleware):
    def __init__(self, app: ASGIApp, /, **options: Any) -> None:
        super().__init__(
            app, subject=credential_subject, pool=metadata_pool, table="data_idempotency_records", **options
        )
