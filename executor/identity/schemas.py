from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from falcone.naming import WorkspaceNames

# anon/service: API keys; user: a Bearer JWT of the tenant's realm; gateway: headers the gateway injected.
CredentialKind = Literal["anon", "service", "user", "gateway"]


@dataclass(frozen=True, slots=True)
class Identity:
    """A verified caller: the tenant and workspace come from the credential, never from the request."""

    tenant: str
    workspace: str
    role: str  # the NOBYPASSRLS role the request runs as, one of the workspace's request roles
    kind: CredentialKind
    subject: str  # key id, token subject or the gateway's x-auth-subject
    plan: str  # the tenant's plan (falcone/catalog/plans.toml): its quotas size what a request may do
    names: WorkspaceNames = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "names", WorkspaceNames(tenant=self.tenant, slug=self.workspace))

    @property
    def read_only(self) -> bool:
        """Anon keys ship to browsers: they read, never write (the database grants agree)."""
        return self.kind == "anon" or self.role == self.names.db_role("anon")

    @property
    def may_define_tables(self) -> bool:
        return self.role == self.names.db_role("service")


@dataclass(frozen=True, slots=True)
class WorkspaceRecord:
    """What the registry says about the workspace a credential names."""

    plan: str
    tenant_state: str
    workspace_state: str


@dataclass(frozen=True, slots=True)
class KeyRecord(WorkspaceRecord):
    id: str
    tenant: str
    workspace: str
    kind: str
    db_role: str
    expires_at: datetime | None
    revoked_at: datetime | None
