"""The executor's settings, from the environment (FALCONE_EXECUTOR_*)."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class ExecutorSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FALCONE_EXECUTOR_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=18500, ge=1, le=65535)
    workers: int = Field(default=1, ge=1, le=64)
    log_level: str = "info"
    # Seed 003: 1 MB for data requests.
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)

    # The metadata database as the `keys` login: it may read api_keys, workspaces and tenants, nothing else.
    metadata_dsn: SecretStr = SecretStr("")
    metadata_pool_size: int = Field(default=4, ge=1, le=50)
    # Revocation takes effect within this many seconds (a cached lookup is trusted that long, found or not).
    key_cache_ttl_s: float = Field(default=5.0, ge=0, le=60)
    key_cache_size: int = Field(default=10_000, ge=1)

    # Workspace credentials: KV v2 `{vault_mount}/workspace/{tenant}/{workspace}/database`, read with a token of
    # the `executor-policy`.
    vault_address: str = "http://127.0.0.1:18200"
    vault_token: SecretStr = SecretStr("")
    vault_mount: str = "secret"
    # Where the workspace databases are served (the credentials in Vault name the database, not the server).
    postgres_host: str = "127.0.0.1"
    postgres_port: int = Field(default=5432, ge=1, le=65535)
    # Connections per workspace pool, and how many workspace pools stay open (least recently used closed first).
    pool_size: int = Field(default=10, ge=1, le=200)
    max_pools: int = Field(default=32, ge=1)
    statement_timeout_ms: int = Field(default=10_000, ge=100)
    # Rows one request reads at most (a larger `limit` is clamped, as PostgREST's db-max-rows does).
    max_rows: int = Field(default=1000, ge=1)
    # A table's columns are read from the catalogue and trusted this long.
    catalog_ttl_s: float = Field(default=30.0, ge=0)

    # Bearer JWTs: issuer `{keycloak_url}/realms/{realm}`, the realm taken from the tenant registry.
    keycloak_url: str = "http://127.0.0.1:18080"
    jwks_ttl_s: float = Field(default=300.0, ge=1)

    # Identity headers (x-tenant-id, ...) are trusted only on requests that carry this secret in
    # `x-gateway-secret` and no credential. Unset: never trusted.
    gateway_secret: SecretStr | None = None
