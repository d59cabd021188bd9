"""Run the metadata migrations (alembic) as the migrator login, acting as the role that owns the schema.

Objects are created under `SET ROLE {prefix}_migrator`, so they belong to the platform's migrator role and not to
the login that ran them; the runtime and keys roles get exactly the privileges the migrations grant.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"


@dataclass(frozen=True)
class MetadataRoles:
    prefix: str

    @property
    def owner(self) -> str:
        return f"{self.prefix}_migrator"

    @property
    def runtime(self) -> str:
        return f"{self.prefix}_runtime"

    @property
    def keys(self) -> str:
        return f"{self.prefix}_keys"

    @property
    def audit_readonly(self) -> str:
        return f"{self.prefix}_audit_readonly"


def alembic_config(dsn: str, roles: MetadataRoles) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["dsn"] = dsn
    config.attributes["roles"] = roles
    return config


def upgrade(dsn: str, roles: MetadataRoles, revision: str = "head") -> None:
    command.upgrade(alembic_config(dsn, roles), revision)


def downgrade(dsn: str, roles: MetadataRoles, revision: str) -> None:
    command.downgrade(alembic_config(dsn, roles), revision)
