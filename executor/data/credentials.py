"""Workspace database credentials, read from Vault (KV v2) with the executor's token (`executor-policy`)."""

from __future__ import annotations

from dataclasses import dataclass

import httpx2

from falcone.naming import WorkspaceNames


class NoDatabaseError(Exception):
    """The workspace has no PostgreSQL (its plan has no postgres capability, or it is not provisioned yet)."""


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

    async def database(self, names: WorkspaceNames) -> DatabaseCredentials:
        url = f"{self.address}/v1/{self.mount}/data/{names.vault_prefix}/database"
        try:
            response = await self.client.get(url, headers={"X-Vault-Token": self.token})
        except httpx2.HTTPError as error:
            raise SecretsUnavailableError(f"Vault is unreachable: {type(error).__name__}") from error
        if response.status_code == 404:
            raise NoDatabaseError(names.schema)
        if response.status_code != 200:
            raise SecretsUnavailableError(f"Vault answered {response.status_code} for the workspace's credentials")
        data = response.json()["data"]["data"]
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
