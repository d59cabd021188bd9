"""Identity components on the real Keycloak: tokens carry the workspace's context, and only its own."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx2
import jwt
import pulumi
import pytest

from components.connections import Backends, KeycloakConnection
from components.identity import (
    PlatformIdentity,
    PlatformIdentityArgs,
    TenantIdentity,
    TenantIdentityArgs,
    WorkspaceIdentity,
    WorkspaceIdentityArgs,
)
from falcone import pulumi_runner
from falcone.naming import TenantNames
from falcone.plans import catalog
from falcone.toolchain import Toolchain

pytestmark = [pytest.mark.platform, pytest.mark.toolchain]


def _quiet(_line: str) -> None:
    """Engine output is kept in the CommandError if something fails."""


def _token(keycloak: KeycloakConnection, realm: str, client_id: str, secret: str) -> httpx2.Response:
    return httpx2.post(
        f"{keycloak.url}/realms/{realm}/protocol/openid-connect/token",
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
    )


def _claims(keycloak: KeycloakConnection, realm: str, token: str) -> dict[str, Any]:
    keys = jwt.PyJWKClient(f"{keycloak.url}/realms/{realm}/protocol/openid-connect/certs")
    key = keys.get_signing_key_from_jwt(token)
    claims: dict[str, Any] = jwt.decode(
        token, key.key, algorithms=["RS256"], issuer=f"{keycloak.url}/realms/{realm}", options={"verify_aud": False}
    )
    return claims


def test_service_account_tokens_carry_their_own_tenant_and_workspace(
    toolchain: Toolchain, backends: Backends, backend_dir: Path
) -> None:
    _ = toolchain
    keycloak = backends.keycloak
    assert keycloak is not None
    run = uuid4().hex[:6]
    growth = catalog().plan("growth")
    tenants = [TenantNames(f"acme{run}"), TenantNames(f"globex{run}")]
    platform_realm = f"platform-{run}"

    def program() -> None:
        PlatformIdentity("platform", PlatformIdentityArgs(connection=keycloak, realm=platform_realm))
        for tenant in tenants:
            identity = TenantIdentity(tenant.slug, TenantIdentityArgs(names=tenant, plan=growth, connection=keycloak))
            workspace = WorkspaceIdentity(
                f"{tenant.slug}-prod",
                WorkspaceIdentityArgs(
                    names=tenant.workspace("prod"),
                    realm=tenant.realm,
                    shared_realm=False,
                    plan_id=growth.name,
                    connection=keycloak,
                    service_accounts=["backend"],
                ),
                pulumi.ResourceOptions(depends_on=[identity]),
            )
            pulumi.export(f"{tenant.slug}-secrets", workspace.service_account_secrets)

    stack = pulumi_runner.inline_stack("identity", program, backend_dir, "components-identity")
    try:
        outputs = stack.up(on_output=_quiet).outputs
        discovery = httpx2.get(f"{keycloak.url}/realms/{platform_realm}/.well-known/openid-configuration")
        assert discovery.status_code == 200
        acme, globex = tenants
        acme_secret = outputs[f"{acme.slug}-secrets"].value["prod-svc-backend"]
        globex_secret = outputs[f"{globex.slug}-secrets"].value["prod-svc-backend"]

        granted = _token(keycloak, acme.realm, "prod-svc-backend", acme_secret)
        assert granted.status_code == 200  # positive control
        claims = _claims(keycloak, acme.realm, granted.json()["access_token"])
        assert (claims["tenant_id"], claims["workspace_id"], claims["plan_id"]) == (acme.slug, "prod", "growth")
        assert claims["exp"] - claims["iat"] == growth.tokens.access_token_lifespan_s

        # Same client id in the other tenant's realm: its secret is worthless here, and its tokens name globex.
        assert _token(keycloak, acme.realm, "prod-svc-backend", globex_secret).status_code == 401
        other = _token(keycloak, globex.realm, "prod-svc-backend", globex_secret).json()["access_token"]
        assert _claims(keycloak, globex.realm, other)["tenant_id"] == globex.slug
        with pytest.raises(jwt.InvalidIssuerError):
            jwt.decode(
                other,
                jwt.PyJWKClient(f"{keycloak.url}/realms/{globex.realm}/protocol/openid-connect/certs")
                .get_signing_key_from_jwt(other)
                .key,
                algorithms=["RS256"],
                issuer=f"{keycloak.url}/realms/{acme.realm}",
                options={"verify_aud": False},
            )
    finally:
        stack.destroy(on_output=_quiet)
        stack.workspace.remove_stack("identity")
    for realm in (platform_realm, *(t.realm for t in tenants)):
        assert httpx2.get(f"{keycloak.url}/realms/{realm}/.well-known/openid-configuration").status_code == 404
