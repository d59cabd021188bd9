"""The automation service's settings, from the environment (FALCONE_AUTOMATION_*)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class AutomationSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FALCONE_AUTOMATION_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=18400, ge=1, le=65535)
    # Seed 003: 512 KB for admin APIs, 1 MB for provisioning requests.
    max_body_bytes: int = Field(default=512 * 1024, ge=1024)
    log_level: str = "info"
