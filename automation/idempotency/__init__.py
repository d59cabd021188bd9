"""Idempotency keys of the automation service's POSTs: records per verified platform principal, in the metadata
database's `idempotency_records` (the mechanism is `falcone.http.idempotency`)."""

from __future__ import annotations

from typing import Any

import asyncpg
from starlette.types import ASGIApp, Scope

from automation.auth import TokenVerifier
from falcone.http import idempotency


async def principal_subject(scope: Scope) -> str | None:
    """The bearer token's verified subject, or None (no token, or one authentication will refuse)."""
    authorization = next((value for name, value in scope["headers"] if name == b"authorization"), b"")
    scheme, _, token = authorization.decode("latin-1").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    verifier: TokenVerifier | None = getattr(scope["app"].state, "verifier", None)
    if verifier is None:  # authentication is not configured: the endpoint answers 503
        return None
    try:
        principal = await verifier.verify(token.strip())
    except Exception:  # the endpoint's authentication answers it (401); nothing is recorded
        return None
    scope.setdefault("state", {})["principal"] = principal  # as `current_principal` keeps it (logs read it)
    return principal.subject


def metadata_pool(scope: Scope) -> asyncpg.Pool:
    pool: asyncpg.Pool = scope["app"].state.pool
    return pool


class IdempotencyMiddleware(idempotency.IdempotencyMiddleware):
    def __init__(self, app: ASGIApp, /, **options: Any) -> None:
        super().__init__(app, subject=principal_subject, pool=metadata_pool, table="idempotency_records", **options)


__all__ = ["IdempotencyMiddleware"]
