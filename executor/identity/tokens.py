"""Bearer JWTs of a tenant's realm.

The token's `tenant_id` claim only says which tenant's registry entry to consult; the issuer is then pinned from
that entry (`tenants.outputs->>'realm'`, written by the automation service from the tenant stack) and the token
must verify against that realm's keys with that exact issuer, so an unverified claim never chooses the trust
anchor. After verification the claims are authenticated and the `tenant_id` claim must still match.
"""

from __future__ import annotations

import time
from typing import Any

import httpx2
import jwt

ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512")
# A token naming a key we do not know refetches the realm's keys, at most this often (a rotation shows up at once,
# a flood of forged kids does not turn into a flood of fetches).
_REFETCH_AFTER_S = 10.0


class InvalidTokenError(Exception):
    pass


def unverified_claims(token: str) -> dict[str, Any]:
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError as error:
        raise InvalidTokenError("the bearer token is not a JWT") from error
    return claims


class Jwks:
    """The signing keys of each realm we trust, fetched from its issuer and cached."""

    def __init__(self, client: httpx2.AsyncClient, ttl: float) -> None:
        self.client, self.ttl = client, ttl
        self._keys: dict[str, tuple[float, dict[str, jwt.PyJWK]]] = {}

    async def key(self, issuer: str, kid: str) -> jwt.PyJWK:
        fetched_at, keys = self._keys.get(issuer, (0.0, {}))
        age = time.monotonic() - fetched_at
        if age >= self.ttl or (kid not in keys and age >= _REFETCH_AFTER_S):
            keys = await self._fetch(issuer)
        if kid not in keys:
            raise InvalidTokenError("the token is signed by a key the realm does not publish")
        return keys[kid]

    async def _fetch(self, issuer: str) -> dict[str, jwt.PyJWK]:
        try:
            response = await self.client.get(f"{issuer}/protocol/openid-connect/certs")
            response.raise_for_status()
            published = response.json().get("keys", [])
        except (httpx2.HTTPError, ValueError) as error:
            raise InvalidTokenError("the realm's signing keys are unavailable") from error
        keys: dict[str, jwt.PyJWK] = {}
        for entry in published:
            if entry.get("use", "sig") != "sig" or entry.get("alg") not in ALGORITHMS or "kid" not in entry:
                continue
            try:
                keys[entry["kid"]] = jwt.PyJWK(entry)
            except jwt.PyJWTError:
                continue
        self._keys[issuer] = (time.monotonic(), keys)
        return keys


async def verify(token: str, issuer: str, jwks: Jwks) -> dict[str, Any]:
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as error:
        raise InvalidTokenError("the bearer token is not a JWT") from error
    algorithm, kid = header.get("alg"), header.get("kid")
    if algorithm not in ALGORITHMS or not isinstance(kid, str):
        raise InvalidTokenError("the token's signature algorithm is not accepted")
    key = await jwks.key(issuer, kid)
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key=key,
            algorithms=[algorithm],
            issuer=issuer,
            # Audiences are per client in Keycloak; the tenant context claims are what authorize here.
            options={"require": ["exp", "iat", "iss"], "verify_aud": False},
        )
    except jwt.ExpiredSignatureError as error:
        raise InvalidTokenError("the token has expired") from error
    except jwt.PyJWTError as error:
        raise InvalidTokenError("the token does not verify against its tenant's realm") from error
    if claims.get("typ", "Bearer") != "Bearer":
        raise InvalidTokenError("only access tokens are accepted")
    return claims
