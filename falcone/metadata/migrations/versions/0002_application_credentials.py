"""Applications and service accounts: the workspace generation that brings each one in, when a service account's
credentials were shown (they are shown once), and one client id per tenant.

Two workspaces of a tenant can derive the same client id (`web` + `api-x` and `web-api` + `x` both give
`web-api-x`), and the Keycloak provider adopts an existing client on create: the unique index makes the second one
a refused request instead of one workspace taking over the other's client.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from typing import Any

from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade(roles: Any) -> None:  # noqa: ARG001 (alembic passes the same arguments to every migration)
    op.execute("ALTER TABLE applications ADD COLUMN generation integer NOT NULL DEFAULT 0")
    op.execute("ALTER TABLE applications ADD COLUMN credentials_revealed_at timestamptz")
    op.execute("CREATE UNIQUE INDEX applications_client_id ON applications (tenant, client_id)")


def downgrade(roles: Any) -> None:  # noqa: ARG001
    op.execute("DROP INDEX IF EXISTS applications_client_id")
    op.execute("ALTER TABLE applications DROP COLUMN IF EXISTS credentials_revealed_at")
    op.execute("ALTER TABLE applications DROP COLUMN IF EXISTS generation")
