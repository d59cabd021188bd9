"""Who is calling: a Bearer access token of the platform realm, verified against that realm's keys.

The issuer and the JWKS address come from configuration, never from the token. Keys are cached for a while;
a token signed by a key the cache does not know (Keycloak rotated its keys) makes the verifier fetch the JWKS
again, at most once per `refresh_interval`, so a stream of tokens with made-up key ids cannot turn into a stream
of requests to Keycloak. Any presented credential that does not verify is a 401: the service never falls back
to anonymous access.

Only access tokens (`typ: Bearer`) of the platform's own clients count: ID and refresh tokens are not bearer
credentials, and the workspace clients that shared profiles keep in the same realm issue tokens for the data
plane, not for this API. API keys (`flc_…`) belong to the data API and are refused here.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated, Any

import httpx2
import jwt
import structlog
from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from components.identity import PLATFORM_API_CLIENTS, PLATFORM_ROLES
from falcone import apikeys
from falcone.http.problems import Problem, problem_response

log = structlog.get_logger("automation.auth")

API_KEY_DETAIL = (
    "API keys (flc_…) belong to the data API; the automation API takes a Bearer access token of the platform realm"
)
# Keycloak names the user behind a client's service account `service-account-<client id>`.
SERVICE_ACCOUNT_PREFIX = "service-account-"
# Key types of public (asymmetric) keys: a symmetric key in a JWKS would let anyone who read it sign tokens.
_PUBLIC_KEY_TYPES = frozenset({"RSA", "EC", "OKP"})
_REQUIRED_CLAIMS = ["exp", "iat", "iss", "sub"]


@dataclass(frozen=True)
class Principal:
    subject: str
    username: str | None
    roles: frozenset[str]
    tenant_id: str | None
    workspace_id: str | None

    def audit_actor(self) -> dict[str, Any]:
        """The `actor` of an audit event (seed 003)."""
        service = (self.username or "").startswith(SERVICE_ACCOUNT_PREFIX)
        return {"type": "service" if service else "user", "id": self.subject, "roles": sorted(self.roles)}


class Unauthenticated(Problem):
    """A 401 that carries the `WWW-Authenticate` challenge of RFC 6750 (rendered by the handler of `install`)."""

    def __init__(self, detail: str, *, error: str | None = "invalid_token") -> None:
        super().__init__(401, detail)
        self.challenge = "Bearer" if error is None else f'Bearer error="{error}"'


def install(app: FastAPI) -> None:
    """Render `Unauthenticated` with its challenge header (after `problems.install`, which knows no headers)."""

    @app.exception_handler(Unauthenticated)
    async def _unauthenticated(request: Request, error: Unauthenticated) -> JSONResponse:
        response = problem_response(request, error.status, error.detail, error.type, **error.extensions)
        response.headers["WWW-Authenticate"] = error.challenge
        return response


def realm_issuer(keycloak_url: str, realm: str) -> str:
    return f"{keycloak_url.rstrip('/')}/realms/{realm}"


class TokenVerifier:
    """Verifies access tokens of one realm; built once per app and shared by its requests."""

    def __init__(
        self,
        *,
        issuer: str,
        jwks_url: str | None = None,
        clients: Iterable[str] = PLATFORM_API_CLIENTS,
        cache_ttl: float = 300.0,
        refresh_interval: float = 10.0,
        leeway: float = 5.0,
        http: httpx2.AsyncClient | None = None,
    ) -> None:
        """`clients`: the clients (`azp`) whose tokens count; `cache_ttl`: how long fetched keys are trusted;
        `refresh_interval`: the least time between two fetches; `leeway`: clock skew allowed with Keycloak (s)."""
        self.issuer = issuer.rstrip("/")
        self.jwks_url = jwks_url or f"{self.issuer}/protocol/openid-connect/certs"
        self._clients = frozenset(clients)
        self._cache_ttl, self._refresh_interval, self.leeway = cache_ttl, refresh_interval, leeway
        self._owns_http = http is None
        self._http = http or httpx2.AsyncClient(timeout=httpx2.Timeout(5.0))
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None
        self._attempted_at: float | None = None
        self._lock = asyncio.Lock()

    @classmethod
    def for_realm(cls, keycloak_url: str, realm: str, **options: Any) -> TokenVerifier:
        """The verifier of `realm` on the Keycloak at `keycloak_url` (options as in the constructor)."""
        return cls(issuer=realm_issuer(keycloak_url, realm), **options)

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def verify(self, token: str) -> Principal:
        if apikeys.looks_like_key(token):
            raise Unauthenticated(API_KEY_DETAIL)
        try:
            header = jwt.get_unverified_header(token)
            # Read unverified only to turn foreign tokens away before any key lookup (and refetch).
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.InvalidTokenError:
            raise Unauthenticated("the bearer token is not a well-formed JWT") from None
        if unverified.get("iss") != self.issuer:
            raise Unauthenticated("the token was not issued by the platform realm")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise Unauthenticated("the token names no signing key (kid)")
        key = await self._signing_key(kid)
        if key is None:
            raise Unauthenticated("the token is not signed by a key of the platform realm")
        if header.get("alg") != key.algorithm_name:
            raise Unauthenticated(f"the token's algorithm is not its key's ({key.algorithm_name})")
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[key.algorithm_name],
                issuer=self.issuer,
                leeway=self.leeway,
                # No audience check: Keycloak's access tokens name no audience of ours; `azp` is checked below.
                options={"require": _REQUIRED_CLAIMS, "verify_aud": False},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("the token has expired") from None
        except jwt.InvalidSignatureError:
            raise Unauthenticated("the token's signature does not verify") from None
        except jwt.InvalidTokenError as error:
            raise Unauthenticated(f"the token is invalid: {error}") from None
        return self._principal(claims)

    def _principal(self, claims: dict[str, Any]) -> Principal:
        if claims.get("typ") != "Bearer":
            raise Unauthenticated("the token is not an access token")
        if claims.get("azp") not in self._clients:
            raise Unauthenticated("the token was not issued to a client of the platform API")
        subject, username, roles = claims.get("sub"), claims.get("preferred_username"), claims.get("roles", [])
        tenant_id, workspace_id = claims.get("tenant_id"), claims.get("workspace_id")
        if (
            not isinstance(subject, str)
            or not subject
            or not isinstance(roles, list)
            or not all(isinstance(role, str) for role in roles)
            or not all(isinstance(value, str | None) for value in (username, tenant_id, workspace_id))
        ):
            raise Unauthenticated("the token's claims are malformed")
        return Principal(
            subject=subject,
            username=username,
            roles=frozenset(roles) & frozenset(PLATFORM_ROLES),
            tenant_id=tenant_id or None,
            workspace_id=workspace_id or None,
        )

    # --- keys -----------------------------------------------------------------------------------------------

    async def _signing_key(self, kid: str) -> jwt.PyJWK | None:
        fetched_at = self._fetched_at
        if kid not in self._keys or fetched_at is None or time.monotonic() - fetched_at >= self._cache_ttl:
            await self._refresh()
        return self._keys.get(kid)

    async def _refresh(self) -> None:
        async with self._lock:
            now = time.monotonic()
            # Also true for requests that queued behind the one that just fetched: they use its result.
            if self._attempted_at is not None and now - self._attempted_at < self._refresh_interval:
                return
            self._attempted_at = now
            try:
                self._keys = await self._fetch()
                self._fetched_at = now
            except (httpx2.HTTPError, ValueError) as error:
                # Keys already known stay in use: Keycloak being away must not log everyone out.
                log.warning("jwks_fetch_failed", url=self.jwks_url, error=str(error), cached_keys=len(self._keys))
        if not self._keys:
            raise Problem(503, "cannot verify tokens: the platform realm's keys are unavailable")

    async def _fetch(self) -> dict[str, jwt.PyJWK]:
        response = await self._http.get(self.jwks_url)
        response.raise_for_status()
        document = response.json()
        keys: dict[str, jwt.PyJWK] = {}
        for data in document.get("keys", []) if isinstance(document, dict) else []:
            if (
                not isinstance(data, dict)
                or data.get("use", "sig") != "sig"
                or data.get("kty") not in _PUBLIC_KEY_TYPES
                or not isinstance(data.get("kid"), str)
            ):
                continue
            try:
                keys[data["kid"]] = jwt.PyJWK(data)
            except jwt.PyJWTError:  # an algorithm we cannot verify with
                continue
        if not keys:
            raise ValueError(f"{self.jwks_url} holds no signing key")
        return keys


# Documents the scheme in OpenAPI (every route that needs a principal lists it); the header is read below.
_bearer = HTTPBearer(auto_error=False, description="an access token of the platform realm")


async def current_principal(
    request: Request, _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)] = None
) -> Principal:
    """The verified caller of this request (401 otherwise); also kept as `request.state.principal`."""
    verifier: TokenVerifier | None = getattr(request.app.state, "verifier", None)
    if verifier is None:
        raise Problem(503, "authentication is not configured")
    for name in ("apikey", "x-api-key"):
        if apikeys.looks_like_key(request.headers.get(name, "")):
            raise Unauthenticated(API_KEY_DETAIL)
    authorization = request.headers.get("authorization")
    if not authorization:
        raise Unauthenticated("this API needs an Authorization: Bearer access token of the platform realm", error=None)
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("the Authorization header must be 'Bearer <access token>'", error="invalid_request")
    principal = await verifier.verify(token.strip())
    request.state.principal = principal
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
