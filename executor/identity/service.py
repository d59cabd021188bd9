"""Identity resolution in seed 004's strict order; each credential derives the tenant from itself.

1. API key (`apikey`, `x-api-key`, `Authorization: Bearer|ApiKey flc_…`) → tenant, workspace and role of the key.
2. Bearer JWT → the tenant's realm (pinned from the registry) verifies it; tenant and workspace from its claims.
3. Gateway headers (`x-tenant-id`, `x-workspace-id`, `x-auth-subject`, `x-pg-role`) → only with no credential
   and the gateway's shared secret; otherwise they are ignored.

A presented credential that does not verify is a 401: it never falls back to the next step.
"""

from __future__ import annotations

import hmac
from datetime import UTC, datetime

import asyncpg
import structlog
from starlette.datastructures import Headers

from executor.cache import TTLCache
from executor.identity import repository, tokens
from executor.identity.headers import (
    GATEWAY_SECRET_HEADER,
    ROLE_HEADER,
    SUBJECT_HEADER,
    TENANT_HEADER,
    WORKSPACE_HEADER,
)
from executor.identity.schemas import CredentialKind, Identity, KeyRecord, WorkspaceRecord
from executor.settings import ExecutorSettings
from falcone import apikeys
from falcone.http.problems import Problem
from falcone.naming import SLUG_PATTERN, InvalidSlugError, WorkspaceNames
from falcone.rls import REQUEST_PURPOSES

log = structlog.get_logger("executor.identity")
_USER_PURPOSE = "runtime"


def unauthorized(detail: str) -> Problem:
    return Problem(401, detail, code="PGRST301", message=detail, hint=None, details=None)


def require_serving(record: WorkspaceRecord) -> None:
    """A verified credential of a suspended tenant (or of a tenant or workspace being deleted) reads and writes
    nothing: 403, so its owner learns why rather than suspecting a bad key."""
    if record.tenant_state == "suspended":
        detail, code = "the tenant is suspended", "tenant-suspended"
    elif "deleting" in (record.tenant_state, record.workspace_state):
        detail, code = "the workspace is being deleted", "workspace-deleting"
    else:
        return
    raise Problem(403, detail, code=code, message=detail, hint=None, details=None)


class IdentityResolver:
    def __init__(self, settings: ExecutorSettings, metadata: asyncpg.Pool, jwks: tokens.Jwks) -> None:
        self.settings, self.metadata, self.jwks = settings, metadata, jwks
        self.keys: TTLCache[bytes, KeyRecord] = TTLCache(settings.key_cache_ttl_s, settings.key_cache_size)
        self.realms: TTLCache[str, str] = TTLCache(settings.key_cache_ttl_s, settings.key_cache_size)
        self.workspaces: TTLCache[tuple[str, str], WorkspaceRecord] = TTLCache(
            settings.key_cache_ttl_s, settings.key_cache_size
        )
        secret = settings.gateway_secret.get_secret_value() if settings.gateway_secret else ""
        self._gateway_secret = secret.encode()

    async def resolve(self, headers: Headers) -> Identity:
        key, bearer = _presented(headers)
        if key is not None:
            return await self._from_key(key)
        if bearer is not None:
            return await self._from_token(bearer)
        return await self._from_gateway(headers)

    # --- 1. API keys ------------------------------------------------------------------------------------------

    async def _from_key(self, key: str) -> Identity:
        if not apikeys.is_well_formed(key):
            raise unauthorized("the API key is not valid")
        secret_hash = apikeys.digest(key)
        record = await self.keys.get_or_load(secret_hash, lambda: repository.find_key(self.metadata, secret_hash))
        if record is None:
            raise unauthorized("the API key is not valid")
        now = datetime.now(UTC)
        if record.revoked_at is not None and record.revoked_at <= now:
            raise unauthorized("the API key has been revoked")
        if record.expires_at is not None and record.expires_at <= now:
            raise unauthorized("the API key has expired")
        names = _names(record.tenant, record.workspace)
        # The role stored with the key must be one of its workspace's request roles, and an anon key's the anon
        # role: a wrong row fails closed instead of running with someone else's privileges.
        allowed = _request_roles(names)
        if names is not None and record.kind == "anon":
            allowed = {names.db_role("anon")}
        if record.db_role not in allowed or record.kind not in apikeys.KINDS:
            log.error("api key with an impossible role", key_id=record.id, db_role=record.db_role)
            raise unauthorized("the API key is not valid")
        require_serving(record)
        kind: CredentialKind = "anon" if record.kind == "anon" else "service"
        return Identity(record.tenant, record.workspace, record.db_role, kind, record.id, record.plan)

    # --- 2. Bearer JWTs ---------------------------------------------------------------------------------------

    async def _from_token(self, token: str) -> Identity:
        try:
            tenant = tokens.unverified_claims(token).get("tenant_id")
            if not isinstance(tenant, str) or not _is_slug(tenant):
                raise tokens.InvalidTokenError("the token carries no tenant")
            realm = await self._realm(tenant)
            if realm is None:
                raise tokens.InvalidTokenError("the token's tenant is unknown")
            issuer = f"{self.settings.keycloak_url.rstrip('/')}/realms/{realm}"
            claims = await tokens.verify(token, issuer, self.jwks)
        except tokens.InvalidTokenError as error:
            raise unauthorized(str(error)) from None
        workspace = claims.get("workspace_id")
        if claims.get("tenant_id") != tenant or not isinstance(workspace, str):
            raise unauthorized("the token carries no workspace context")
        names = _names(tenant, workspace)
        record = None if names is None else await self._workspace(tenant, workspace)
        if names is None or record is None:
            raise unauthorized("the token's workspace is unknown")
        require_serving(record)
        subject = str(claims.get("sub") or claims.get("azp") or "")
        return Identity(tenant, workspace, names.db_role(_USER_PURPOSE), "user", subject, record.plan)

    async def _realm(self, tenant: str) -> str | None:
        return await self.realms.get_or_load(tenant, lambda: repository.tenant_realm(self.metadata, tenant))

    async def _workspace(self, tenant: str, workspace: str) -> WorkspaceRecord | None:
        return await self.workspaces.get_or_load(
            (tenant, workspace), lambda: repository.find_workspace(self.metadata, tenant, workspace)
        )

    # --- 3. Gateway headers -----------------------------------------------------------------------------------

    async def _from_gateway(self, headers: Headers) -> Identity:
        presented = headers.get(GATEWAY_SECRET_HEADER)
        if presented is None:
            raise unauthorized("a credential is required: an API key or a bearer token")
        if not self._gateway_secret or not hmac.compare_digest(presented.encode(), self._gateway_secret):
            raise unauthorized("the gateway secret is not valid")
        tenant, workspace = headers.get(TENANT_HEADER, ""), headers.get(WORKSPACE_HEADER, "")
        names = _names(tenant, workspace)
        record = None if names is None else await self._workspace(tenant, workspace)
        if names is None or record is None:
            raise unauthorized("the gateway named no known workspace")
        require_serving(record)
        role = headers.get(ROLE_HEADER, "anon")
        role = names.db_role(role) if role in REQUEST_PURPOSES else role
        if role not in _request_roles(names):
            raise unauthorized("the gateway named a role the workspace does not have")
        return Identity(tenant, workspace, role, "gateway", headers.get(SUBJECT_HEADER, ""), record.plan)


def _presented(headers: Headers) -> tuple[str | None, str | None]:
    """(API key, bearer token) presented by the request; several different credentials are refused."""
    keys = [*headers.getlist("apikey"), *headers.getlist("x-api-key")]
    bearer: str | None = None
    authorizations = headers.getlist("authorization")
    if len(authorizations) > 1:
        raise unauthorized("present one Authorization header")
    if authorizations:
        scheme, _, value = authorizations[0].strip().partition(" ")
        value = value.strip()
        if scheme.lower() not in {"bearer", "apikey"} or not value:
            raise unauthorized("the Authorization scheme is not supported: use Bearer")
        if apikeys.looks_like_key(value) or scheme.lower() == "apikey":
            keys.append(value)
        else:
            bearer = value
    if len(set(keys)) > 1 or (keys and bearer is not None):
        raise unauthorized("present one credential: the API key headers disagree")
    return (keys[0] if keys else None), bearer


def _names(tenant: str, workspace: str) -> WorkspaceNames | None:
    try:
        return WorkspaceNames(tenant=tenant, slug=workspace)
    except InvalidSlugError:
        return None


def _is_slug(value: str) -> bool:
    return SLUG_PATTERN.fullmatch(value) is not None and "--" not in value


def _request_roles(names: WorkspaceNames | None) -> set[str]:
    return set() if names is None else {names.db_role(purpose) for purpose in REQUEST_PURPOSES}
