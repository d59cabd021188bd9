"""People and tokens on the real Keycloak, for the automation API's tests.

`RealmIdentities` creates users of a realm with realm roles and the `tenant_id` / `workspace_id` / `plan_id`
attributes (through the admin API, with the admin credentials of `backends.keycloak`) and logs them in by password
grant through `in-falcone-cli` (the platform stack must run with `devPasswordGrant: "true"`, as the session's
`platform_deployment` does). The bad tokens are real ones too: an expired token is issued by a client of its own
whose tokens live one second, and `foreign_realm` is a realm of its own with the same client, role and claims, so
that only the issuer and the signing key tell its tokens apart.

    async with RealmIdentities(backends.keycloak, platform_deployment.outputs.realm) as identities:
        admin = await identities.create_user(roles=["tenant_admin"], tenant_id="acme")
        token = await identities.password_token(admin)
"""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass
from types import TracebackType
from typing import Any
from uuid import uuid4

import httpx2
import jwt

from components.connections import KeycloakConnection
from components.identity import CLI_CLIENT, OPERATOR_CLIENT


@dataclass(frozen=True)
class User:
    id: str
    username: str
    password: str


class RealmIdentities:
    """Users and clients created in one realm; all of them are deleted on exit."""

    def __init__(self, keycloak: KeycloakConnection, realm: str) -> None:
        self.keycloak, self.realm = keycloak, realm
        self.url = keycloak.url.rstrip("/")
        self._http = httpx2.AsyncClient(base_url=self.url, timeout=30.0)
        self._admin_token = ""
        self._admin_expires = 0.0
        self._users: list[str] = []
        self._clients: list[str] = []

    async def __aenter__(self) -> RealmIdentities:
        return self

    async def __aexit__(
        self, _type: type[BaseException] | None, _error: BaseException | None, _tb: TracebackType | None
    ) -> None:
        try:
            for user_id in self._users:
                await self._admin("DELETE", f"/users/{user_id}", missing_ok=True)
            for client_uuid in self._clients:
                await self._admin("DELETE", f"/clients/{client_uuid}", missing_ok=True)
        finally:
            await self._http.aclose()

    # --- the admin API ----------------------------------------------------------------------------------------

    async def _bearer(self) -> str:
        if time.monotonic() >= self._admin_expires:
            response = await self._http.post(
                f"/realms/{self.keycloak.admin_realm}/protocol/openid-connect/token",
                data={
                    "grant_type": "password",
                    "client_id": self.keycloak.admin_client_id,
                    "username": self.keycloak.admin_user,
                    "password": self.keycloak.admin_password,
                },
            )
            response.raise_for_status()
            body = response.json()
            self._admin_token = body["access_token"]
            self._admin_expires = time.monotonic() + int(body["expires_in"]) - 10
        return self._admin_token

    async def _admin(
        self, method: str, path: str, *, body: Any = None, realm: str | None = None, missing_ok: bool = False
    ) -> httpx2.Response:
        """`path` below /admin/realms/{realm} (the whole realm list when `realm` is "")."""
        base = "/admin/realms" if realm == "" else f"/admin/realms/{realm or self.realm}"
        headers = {"Authorization": f"Bearer {await self._bearer()}"}
        response = await self._http.request(method, f"{base}{path}", json=body, headers=headers)
        if not (missing_ok and response.status_code == 404):
            response.raise_for_status()
        return response

    async def _created(self, path: str, body: Any) -> str:
        response = await self._admin("POST", path, body=body)
        return str(response.headers["location"]).rstrip("/").rsplit("/", 1)[-1]

    async def user(self, user_id: str) -> dict[str, Any]:
        body: dict[str, Any] = (await self._admin("GET", f"/users/{user_id}")).json()
        return body

    async def client_uuid(self, client_id: str) -> str:
        (client,) = (await self._admin("GET", f"/clients?clientId={client_id}")).json()
        return str(client["id"])

    # --- users and clients ------------------------------------------------------------------------------------

    async def create_user(
        self,
        *,
        roles: list[str] | tuple[str, ...] = (),
        tenant_id: str | None = None,
        workspace_id: str | None = None,
        plan_id: str | None = None,
    ) -> User:
        username = f"user-{uuid4().hex[:12]}"
        password = secrets.token_urlsafe(24)
        attributes = {
            name: [value]
            for name, value in (("tenant_id", tenant_id), ("workspace_id", workspace_id), ("plan_id", plan_id))
            if value is not None
        }
        user_id = await self._created(
            "/users",
            {
                "username": username,
                "enabled": True,
                # A complete profile: Keycloak 24+ holds back logins of users whose profile misses required fields.
                "email": f"{username}@example.test",
                "emailVerified": True,
                "firstName": "Test",
                "lastName": username,
                "attributes": attributes,
                "credentials": [{"type": "password", "value": password, "temporary": False}],
            },
        )
        self._users.append(user_id)
        if roles:
            wanted = [(await self._admin("GET", f"/roles/{role}")).json() for role in roles]
            await self._admin("POST", f"/users/{user_id}/role-mappings/realm", body=wanted)
        return User(user_id, username, password)

    async def create_client(self, body: dict[str, Any]) -> str:
        """A client (admin API representation); returns its uuid."""
        client_uuid = await self._created("/clients", body)
        self._clients.append(client_uuid)
        return client_uuid

    async def set_default_scopes(self, client_uuid: str, names: list[str]) -> None:
        scopes = {scope["name"]: scope["id"] for scope in (await self._admin("GET", "/client-scopes")).json()}
        for name in names:
            await self._admin("PUT", f"/clients/{client_uuid}/default-client-scopes/{scopes[name]}")

    async def update_own_account(self, token: str, representation: dict[str, Any]) -> httpx2.Response:
        """What any user may do with their own token: the account API (what the account console calls)."""
        return await self._http.post(
            f"/realms/{self.realm}/account/", json=representation, headers={"Authorization": f"Bearer {token}"}
        )

    # --- tokens -----------------------------------------------------------------------------------------------

    async def token_response(self, data: dict[str, str]) -> dict[str, Any]:
        response = await self._http.post(f"/realms/{self.realm}/protocol/openid-connect/token", data=data)
        if response.status_code != 200:
            raise AssertionError(f"token request refused: HTTP {response.status_code} {response.text[:300]}")
        body: dict[str, Any] = response.json()
        return body

    async def password_token(self, user: User, client_id: str = CLI_CLIENT, *, scope: str | None = None) -> str:
        return str((await self.password_grant(user, client_id, scope=scope))["access_token"])

    async def password_grant(self, user: User, client_id: str = CLI_CLIENT, *, scope: str | None = None) -> Any:
        data = {"grant_type": "password", "client_id": client_id, "username": user.username, "password": user.password}
        return await self.token_response(data | ({"scope": scope} if scope else {}))

    async def client_credentials_token(self, secret: str, client_id: str = OPERATOR_CLIENT) -> str:
        data = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
        return str((await self.token_response(data))["access_token"])

    async def expired_token(self, user: User, *, leeway: float) -> str:
        """An access token of `user` that has expired (also past `leeway`), issued by a client whose tokens live
        one second, with the same scopes as `in-falcone-cli`."""
        client_id = f"test-expiring-{uuid4().hex[:8]}"
        client_uuid = await self.create_client(
            {
                "clientId": client_id,
                "publicClient": True,
                "standardFlowEnabled": False,
                "directAccessGrantsEnabled": True,
                "attributes": {"access.token.lifespan": "1"},
            }
        )
        await self.set_default_scopes(client_uuid, ["basic", "tenant-context", "workspace-context", "workspace-roles"])
        token = await self.password_token(user, client_id)
        expires = jwt.decode(token, options={"verify_signature": False})["exp"]
        await asyncio.sleep(max(0.0, expires + leeway + 1 - time.time()))
        return token

    # --- a realm of its own -----------------------------------------------------------------------------------

    async def create_realm_like_the_platform(self) -> None:
        """Make `self.realm` (absent) a realm with the platform's client `in-falcone-cli`, role platform_admin and
        a `roles` claim: its tokens differ from the platform realm's only by issuer and key."""
        await self._admin("POST", "", body={"realm": self.realm, "enabled": True}, realm="")
        await self._admin("POST", "/roles", body={"name": "platform_admin"})
        await self._created(
            "/clients",
            {
                "clientId": CLI_CLIENT,
                "publicClient": True,
                "standardFlowEnabled": False,
                "directAccessGrantsEnabled": True,
                "protocolMappers": [
                    {
                        "name": "roles",
                        "protocol": "openid-connect",
                        "protocolMapper": "oidc-usermodel-realm-role-mapper",
                        "config": {"claim.name": "roles", "multivalued": "true", "access.token.claim": "true"},
                    }
                ],
            },
        )

    async def delete_realm(self) -> None:
        await self._admin("DELETE", "", missing_ok=True)

    async def add_signing_key(self, priority: int) -> str:
        """A new RSA signing key that outranks the others (a key rotation); returns its key id."""
        realm = (await self._admin("GET", "")).json()
        before = await self._signing_kids()
        await self._created(
            "/components",
            {
                "name": f"rotated-{priority}",
                "providerId": "rsa-generated",
                "providerType": "org.keycloak.keys.KeyProvider",
                "parentId": realm["id"],
                "config": {"priority": [str(priority)], "keySize": ["2048"], "algorithm": ["RS256"]},
            },
        )
        (added,) = (await self._signing_kids()) - before
        return added

    async def _signing_kids(self) -> set[str]:
        keys = (await self._admin("GET", "/keys")).json()["keys"]
        return {key["kid"] for key in keys if key.get("use") == "SIG" and key.get("algorithm") == "RS256"}
