"""TokenVerifier's claim and key handling with locally signed tokens and a JWKS served in memory: the fast
extra cases (malformed claims, key types) next to the real-Keycloak tests of tests/automation/test_auth.py."""

from __future__ import annotations

import time
from typing import Any

import httpx2
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from automation.auth import Principal, TokenVerifier
from falcone.http.problems import Problem

ISSUER = "http://keycloak.test/realms/in-falcone-platform"
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())
HMAC_SECRET = "a-symmetric-secret-that-is-long-enough-for-hs256"


def jwks(*extra: dict[str, Any]) -> dict[str, Any]:
    rsa_jwk = RSAAlgorithm.to_jwk(RSA_KEY.public_key(), as_dict=True) | {"kid": "rsa-1", "alg": "RS256", "use": "sig"}
    ec_jwk = ECAlgorithm.to_jwk(EC_KEY.public_key(), as_dict=True) | {"kid": "ec-1", "alg": "ES256", "use": "sig"}
    return {"keys": [rsa_jwk, ec_jwk, *extra]}


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {
        "iss": ISSUER,
        "sub": "user-1",
        "iat": now,
        "exp": now + 300,
        "typ": "Bearer",
        "azp": "in-falcone-cli",
        "preferred_username": "alice",
        "roles": ["tenant_admin", "offline_access", "default-roles-in-falcone-platform"],
        "tenant_id": "acme",
    }
    return {key: value for key, value in (base | overrides).items() if value is not None}


def rs256(payload: dict[str, Any], kid: str = "rsa-1") -> str:
    return jwt.encode(payload, RSA_KEY, algorithm="RS256", headers={"kid": kid})


class Served:
    """A JWKS document served from memory, counting fetches."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document, self.fetches = document, 0

    def handler(self, _request: httpx2.Request) -> httpx2.Response:
        self.fetches += 1
        return httpx2.Response(200, json=self.document)


def verifier(served: Served, **options: Any) -> TokenVerifier:
    http = httpx2.AsyncClient(transport=httpx2.MockTransport(served.handler))
    return TokenVerifier(issuer=ISSUER, http=http, **options)


async def refused(served: Served, token: str) -> str:
    with pytest.raises(Problem) as problem:
        await verifier(served).verify(token)
    assert problem.value.status == 401
    return problem.value.detail


async def test_claims_become_the_principal_with_only_platform_roles() -> None:
    principal = await verifier(Served(jwks())).verify(rs256(claims(workspace_id="")))
    assert principal == Principal("user-1", "alice", frozenset({"tenant_admin"}), "acme", None)


async def test_algorithm_comes_from_the_key() -> None:
    token = jwt.encode(claims(), EC_KEY, algorithm="ES256", headers={"kid": "ec-1"})
    assert (await verifier(Served(jwks())).verify(token)).tenant_id == "acme"
    mismatched = jwt.encode(claims(), EC_KEY, algorithm="ES256", headers={"kid": "rsa-1"})
    assert "algorithm" in await refused(Served(jwks()), mismatched)


async def test_symmetric_key_in_the_jwks_is_never_used() -> None:
    """A published HMAC secret would let anyone sign tokens: such keys are skipped."""
    oct_jwk = {
        "kty": "oct",
        "kid": "hs-1",
        "alg": "HS256",
        "k": jwt.utils.base64url_encode(HMAC_SECRET.encode()).decode(),
    }
    token = jwt.encode(claims(), HMAC_SECRET, algorithm="HS256", headers={"kid": "hs-1"})
    assert "not signed by a key" in await refused(Served(jwks(oct_jwk)), token)


@pytest.mark.parametrize(
    ("overrides", "detail"),
    [
        ({"roles": "platform_admin"}, "malformed"),
        ({"roles": [1, 2]}, "malformed"),
        ({"tenant_id": ["acme", "globex"]}, "malformed"),
        ({"workspace_id": 7}, "malformed"),
        ({"sub": None}, "sub"),
        ({"exp": None}, "exp"),
        ({"nbf": int(time.time()) + 3600}, "not yet valid"),
        ({"iat": int(time.time()) + 3600}, "not yet valid"),
        ({"typ": "ID"}, "not an access token"),
        ({"typ": None}, "not an access token"),
        ({"azp": "acme--web-app"}, "client of the platform API"),
        ({"azp": None}, "client of the platform API"),
        ({"iss": "http://keycloak.test/realms/tenant-acme"}, "platform realm"),
    ],
)
async def test_malformed_or_foreign_claims_are_refused(overrides: dict[str, Any], detail: str) -> None:
    assert detail in await refused(Served(jwks()), rs256(claims(**overrides)))


async def test_token_without_key_id_is_refused() -> None:
    token = jwt.encode(claims(), RSA_KEY, algorithm="RS256")
    assert "kid" in await refused(Served(jwks()), token)


async def test_jwks_without_a_signing_key_fails_closed() -> None:
    encryption_only = {"keys": [jwks()["keys"][0] | {"use": "enc", "alg": "RSA-OAEP"}]}
    with pytest.raises(Problem) as problem:
        await verifier(Served(encryption_only)).verify(rs256(claims()))
    assert problem.value.status == 503


async def test_keys_are_refetched_when_their_time_is_up() -> None:
    served = Served(jwks())
    cached, expiring = verifier(served), verifier(served, cache_ttl=0, refresh_interval=0)
    for _ in range(3):
        await cached.verify(rs256(claims()))
    assert served.fetches == 1
    for _ in range(3):
        await expiring.verify(rs256(claims()))
    assert served.fetches == 4
