"""Workspace database credentials, read from Vault (KV v2) with the executor's token (`executor-policy`)."""

from __future__ import annotations

from dataclasses import dataclass

import httpx2

from falcone.naming import WorkspaceNames


class NoCapabilityError(Exception):
    """The workspace has no such service (its plan lacks the capability, or it is not provisioned yet)."""


class NoDatabaseError(NoCapabilityError):
    """The workspace has no PostgreSQL."""


class SecretsUnavailableError(Exception):
    pass


@dataclass(frozen=True)
class DatabaseCredentials:
    database: str
    schema: str
    user: str
    password: str


class VaultCredentials:
    def __init__(self, client: httpx2.AsyncClient, address: str, token: str, mount: str) -> None:
        self.client, self.address, self.token, self.mount = client, address.rstrip("/"), token, mount

    async def secret(self, names: WorkspaceNames, service: str) -> dict[str, str]:
        """The workspace's credentials for one service, as the workspace stack stored them (`database`,
        `documents`, `events`, `storage`: see stacks/workspace.py). Absent: NoCapabilityError."""
        url = f"{self.address}/v1/{self.mount}/data/{names.vault_prefix}/{service}"
        try:
            response = await self.client.get(url, headers={"X-Vault-Token": self.token})
        except httpx2.HTTPError as error:
            raise SecretsUnavailableError(f"Vault is unreachable: {type(error).__name__}") from error
        if response.status_code == 404:
            raise NoCapabilityError(f"{names.vault_prefix}/{service}")
        if response.status_code != 200:
            raise SecretsUnavailableError(f"Vault answered {response.status_code} for the workspace's credentials")
        data = response.json()["data"]["data"]
        if not isinstance(data, dict):
            raise SecretsUnavailableError(f"the workspace's {service} credentials are not a map")
        return {str(key): str(value) for key, value in data.items()}

    async def database(self, names: WorkspaceNames) -> DatabaseCredentials:
        try:
            data = await self.secret(names, "database")
        except NoCapabilityError:
            raise NoDatabaseError(names.schema) from None
        credentials = DatabaseCredentials(
            database=data["database"], schema=data["schema"], user=data["user"], password=data["password"]
        )
        # The secret must describe this very workspace: a mix-up in the store must not hand out another schema.
        if credentials.schema != names.schema or credentials.user != names.db_role("executor"):
            raise SecretsUnavailableError("the workspace's stored credentials name another schema")
        return credentials

    async def ping(self) -> None:
        """Vault answers and is unsealed (the executor's token carries only its policy, which cannot look itself
        up; a bad token shows as 503s on the data routes, logged)."""
        try:
            response = await self.client.get(f"{self.address}/v1/sys/health")
        except httpx2.HTTPError as error:
            raise SecretsUnavailableError(f"Vault is unreachable: {type(error).__name__}") from error
        if response.status_code != 200:
            raise SecretsUnavailableError(f"Vault is not serving ({response.status_code})")
