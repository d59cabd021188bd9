"""Keycloak through httpx2: OIDC discovery of the master realm, and an admin token (password grant)."""

import httpx2
import jwt
import pytest

from localplatform.endpoints import KeycloakEndpoint

pytestmark = pytest.mark.platform


async def test_discovery_and_admin_token(keycloak_endpoint: KeycloakEndpoint) -> None:
    ep = keycloak_endpoint
    realm_url = f"{ep.url}/realms/{ep.admin_realm}"
    async with httpx2.AsyncClient(timeout=30.0) as client:
        discovery = await client.get(f"{realm_url}/.well-known/openid-configuration")
        assert discovery.status_code == 200
        config = discovery.json()
        assert config["issuer"] == realm_url

        grant = {"grant_type": "password", "client_id": ep.admin_client_id, "username": ep.admin_user}
        token = await client.post(config["token_endpoint"], data={**grant, "password": ep.admin_password})
        assert token.status_code == 200, token.text
        access_token = token.json()["access_token"]

        # The token verifies against the realm's published keys.
        jwks = (await client.get(config["jwks_uri"])).json()
        kid = jwt.get_unverified_header(access_token)["kid"]
        key = next(jwt.PyJWK(k) for k in jwks["keys"] if k["kid"] == kid)
        claims = jwt.decode(access_token, key, algorithms=[key.algorithm_name], options={"verify_aud": False})
        assert claims["iss"] == realm_url

        realms = await client.get(f"{ep.url}/admin/realms", headers={"Authorization": f"Bearer {access_token}"})
        assert realms.status_code == 200
        assert ep.admin_realm in [r["realm"] for r in realms.json()]

        denied = await client.post(config["token_endpoint"], data={**grant, "password": "wrong"})
        # RFC 6749 section 5.2: a bad resource-owner password is 400 invalid_grant.
        assert denied.status_code == 400
        assert denied.json()["error"] == "invalid_grant"
