"""Administrator-only user attributes of a realm's user profile, by the real engine on the local Keycloak."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx2
import pulumi
import pytest
from pulumi.automation import OpType

from components.connections import Backends, KeycloakConnection
from components.providers.keycloak import KeycloakRealm, RealmArgs
from components.providers.keycloak_user_profile import (
    ADMIN_ONLY,
    KeycloakUserProfileAttributes,
    UserProfileAttributesArgs,
)
from falcone import pulumi_runner
from falcone.toolchain import Toolchain

pytestmark = [pytest.mark.platform, pytest.mark.toolchain]


def _quiet(_line: str) -> None:
    """Engine output is kept in the CommandError if something fails."""


def _program(keycloak: KeycloakConnection, realm: str, attributes: list[str]) -> Callable[[], None]:
    def program() -> None:
        created = KeycloakRealm("realm", RealmArgs(name=realm), keycloak)
        KeycloakUserProfileAttributes(
            "attributes",
            UserProfileAttributesArgs(realm=realm, attributes=attributes),
            keycloak,
            pulumi.ResourceOptions(depends_on=[created]),
        )

    return program


class _Admin:
    def __init__(self, keycloak: KeycloakConnection) -> None:
        self.http = httpx2.Client(base_url=f"{keycloak.url}/admin/realms", timeout=30.0)
        token = httpx2.post(
            f"{keycloak.url}/realms/{keycloak.admin_realm}/protocol/openid-connect/token",
            data={
                "grant_type": "password",
                "client_id": keycloak.admin_client_id,
                "username": keycloak.admin_user,
                "password": keycloak.admin_password,
            },
        )
        token.raise_for_status()
        self.http.headers["Authorization"] = f"Bearer {token.json()['access_token']}"

    def profile(self, realm: str) -> dict[str, Any]:
        response = self.http.get(f"/{realm}/users/profile")
        response.raise_for_status()
        return dict(response.json())

    def declared(self, realm: str) -> dict[str, dict[str, Any]]:
        return {attribute["name"]: attribute for attribute in self.profile(realm)["attributes"]}

    def put_profile(self, realm: str, profile: dict[str, Any]) -> None:
        self.http.put(f"/{realm}/users/profile", json=profile).raise_for_status()


def test_context_attributes_are_kept_admin_only_and_drift_is_repaired(
    toolchain: Toolchain, backends: Backends, backend_dir: Path
) -> None:
    _ = toolchain
    keycloak = backends.keycloak
    assert keycloak is not None
    realm = f"profile-{uuid4().hex[:8]}"
    admin = _Admin(keycloak)
    stack = pulumi_runner.inline_stack(
        "kc-profile", _program(keycloak, realm, ["tenant_id", "plan_id"]), backend_dir, "kc-profile"
    )
    try:
        stack.up(on_output=_quiet)
        declared = admin.declared(realm)
        assert {"username", "email"} <= set(declared)  # Keycloak's own attributes are left alone
        assert declared["tenant_id"]["permissions"] == ADMIN_ONLY
        assert declared["plan_id"]["permissions"] == ADMIN_ONLY

        # An attribute set by an administrator is kept (an undeclared one would be dropped silently).
        created = admin.http.post(
            f"/{realm}/users",
            json={"username": "someone", "attributes": {"tenant_id": ["acme"], "undeclared": ["x"]}},
        )
        created.raise_for_status()
        user = admin.http.get(created.headers["location"].split("/admin/realms", 1)[1]).json()
        assert user["attributes"] == {"tenant_id": ["acme"]}

        assert set(stack.preview_refresh(on_output=_quiet).change_summary) <= {"same"}
        # Out of band, the tenant attribute becomes user-editable: that is drift, and `up` takes it back.
        profile = admin.profile(realm)
        for attribute in profile["attributes"]:
            if attribute["name"] == "tenant_id":
                attribute["permissions"] = {"view": ["admin", "user"], "edit": ["admin", "user"]}
        admin.put_profile(realm, profile)
        drift = stack.preview_refresh(on_output=_quiet)
        assert drift.change_summary.get(OpType.UPDATE) == 1, drift.change_summary
        stack.refresh(on_output=_quiet)
        stack.up(on_output=_quiet)
        assert admin.declared(realm)["tenant_id"]["permissions"] == ADMIN_ONLY

        # Removed from the program: removed from the profile; the other stays.
        stack = pulumi_runner.inline_stack(
            "kc-profile", _program(keycloak, realm, ["tenant_id"]), backend_dir, "kc-profile"
        )
        stack.up(on_output=_quiet)
        declared = admin.declared(realm)
        assert "plan_id" not in declared
        assert declared["tenant_id"]["permissions"] == ADMIN_ONLY
    finally:
        stack.destroy(on_output=_quiet)
        stack.workspace.remove_stack("kc-profile")
    assert admin.http.get(f"/{realm}").status_code == 404
