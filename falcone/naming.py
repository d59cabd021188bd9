"""Naming rules: every server-side name of a tenant or workspace derives from its slugs, here and only here.

Slugs are 3-24 characters of `a-z0-9-`, start with a letter, end with a letter or digit, and never hold `--`,
so `__` / `--` can separate the tenant from the workspace without two pairs of slugs ever colliding. The longest
derived names still fit every backend's limit (PostgreSQL identifiers 63 bytes, S3 buckets 63 characters,
Kubernetes labels 63 characters; checked by tests for all slugs).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SLUG_PATTERN = re.compile(r"^[a-z][a-z0-9-]{1,22}[a-z0-9]$")
PLATFORM_REALM = "in-falcone-platform"


class InvalidSlugError(ValueError):
    def __init__(self, kind: str, value: str) -> None:
        super().__init__(
            f"invalid {kind} slug {value!r}: use 3-24 characters of a-z, 0-9 and '-', starting with a letter, "
            "ending with a letter or digit, without '--'"
        )
        self.kind = kind
        self.value = value


def validate_slug(kind: str, value: str) -> str:
    if not SLUG_PATTERN.fullmatch(value) or "--" in value:
        raise InvalidSlugError(kind, value)
    return value


def _snake(slug: str) -> str:
    return slug.replace("-", "_")


@dataclass(frozen=True)
class TenantNames:
    slug: str

    def __post_init__(self) -> None:
        validate_slug("tenant", self.slug)

    @property
    def stack(self) -> str:
        return f"tenant-{self.slug}"

    @property
    def realm(self) -> str:
        return f"tenant-{self.slug}"

    @property
    def namespace(self) -> str:
        return f"tenant-{self.slug}"

    @property
    def database(self) -> str:
        """The tenant's own database (dedicated profiles)."""
        return f"tenant_{_snake(self.slug)}"

    @property
    def vault_prefix(self) -> str:
        return f"tenant/{self.slug}"

    def workspace(self, slug: str) -> WorkspaceNames:
        return WorkspaceNames(tenant=self.slug, slug=slug)


@dataclass(frozen=True)
class WorkspaceNames:
    tenant: str
    slug: str

    def __post_init__(self) -> None:
        validate_slug("tenant", self.tenant)
        validate_slug("workspace", self.slug)

    @property
    def stack(self) -> str:
        return f"workspace-{self.tenant}.{self.slug}"

    @property
    def schema(self) -> str:
        """PostgreSQL schema (and Mongo database) of the workspace."""
        return f"ws_{_snake(self.tenant)}__{_snake(self.slug)}"

    def db_role(self, purpose: str) -> str:
        """runtime | anon | service | executor | migrator | audit."""
        return f"{self.schema}_{purpose}"

    @property
    def mongo_database(self) -> str:
        return self.schema

    @property
    def bucket(self) -> str:
        return f"flc-{self.tenant}--{self.slug}"

    @property
    def object_prefix(self) -> str:
        """Key prefix of the workspace in a shared bucket (shared storage profiles)."""
        return f"{self.tenant}/{self.slug}/"

    @property
    def topic_prefix(self) -> str:
        return f"{self.tenant}.{self.slug}."

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"

    @property
    def kafka_principal(self) -> str:
        return f"ws-{self.tenant}--{self.slug}"

    @property
    def storage_user(self) -> str:
        return f"ws-{self.tenant}--{self.slug}"

    @property
    def vault_prefix(self) -> str:
        return f"workspace/{self.tenant}/{self.slug}"

    def client(self, app: str, *, shared_realm: bool = False) -> str:
        """`{ws}-{app}` in the tenant's realm; in the shared platform realm the tenant prefixes it."""
        name = f"{self.slug}-{validate_slug('application', app)}"
        return f"{self.tenant}--{name}" if shared_realm else name

    def service_account(self, name: str, *, shared_realm: bool = False) -> str:
        client = f"{self.slug}-svc-{validate_slug('service account', name)}"
        return f"{self.tenant}--{client}" if shared_realm else client
