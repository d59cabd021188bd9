"""The platform metadata: tenants, workspaces, their applications and API keys, durable operations with their
engine events, the audit trail and idempotency records.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

from typing import Any

from alembic import op

revision = "0001"
down_revision = None

TABLES = (
    "tenants",
    "workspaces",
    "applications",
    "api_keys",
    "operations",
    "operation_events",
    "audit_events",
    "idempotency_records",
)


def upgrade(roles: Any) -> None:
    op.execute("""
        CREATE TABLE tenants (
            slug text PRIMARY KEY,
            id text NOT NULL UNIQUE,
            display_name text NOT NULL,
            plan text NOT NULL,
            iam_topology text NOT NULL,
            state text NOT NULL,
            quota_overrides jsonb NOT NULL DEFAULT '{}',
            conditions jsonb NOT NULL DEFAULT '{}',
            outputs jsonb NOT NULL DEFAULT '{}',
            generation integer NOT NULL DEFAULT 1,
            observed_generation integer NOT NULL DEFAULT 0,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            deleted_at timestamptz
        )""")
    op.execute("""
        CREATE TABLE workspaces (
            tenant text NOT NULL REFERENCES tenants(slug),
            slug text NOT NULL,
            id text NOT NULL UNIQUE,
            display_name text NOT NULL,
            state text NOT NULL,
            settings jsonb NOT NULL DEFAULT '{}',
            conditions jsonb NOT NULL DEFAULT '{}',
            outputs jsonb NOT NULL DEFAULT '{}',
            generation integer NOT NULL DEFAULT 1,
            observed_generation integer NOT NULL DEFAULT 0,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            deleted_at timestamptz,
            PRIMARY KEY (tenant, slug)
        )""")
    op.execute("""
        CREATE TABLE applications (
            id text PRIMARY KEY,
            tenant text NOT NULL,
            workspace text NOT NULL,
            name text NOT NULL,
            kind text NOT NULL CHECK (kind IN ('application', 'service_account')),
            client_id text NOT NULL,
            redirect_uris jsonb NOT NULL DEFAULT '[]',
            created_at timestamptz NOT NULL DEFAULT now(),
            FOREIGN KEY (tenant, workspace) REFERENCES workspaces(tenant, slug),
            UNIQUE (tenant, workspace, name)
        )""")
    op.execute("""
        CREATE TABLE api_keys (
            id text PRIMARY KEY,
            tenant text NOT NULL,
            workspace text NOT NULL,
            kind text NOT NULL CHECK (kind IN ('anon', 'service')),
            name text NOT NULL DEFAULT '',
            prefix text NOT NULL,
            secret_hash bytea NOT NULL UNIQUE,
            db_role text NOT NULL,
            created_by text NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            expires_at timestamptz,
            revoked_at timestamptz,
            replaced_by text,
            FOREIGN KEY (tenant, workspace) REFERENCES workspaces(tenant, slug)
        )""")
    op.execute("CREATE INDEX api_keys_workspace ON api_keys (tenant, workspace, created_at)")
    op.execute("""
        CREATE TABLE operations (
            id text PRIMARY KEY,
            kind text NOT NULL,
            stack text NOT NULL,
            tenant text,
            workspace text,
            status text NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
            requested_by jsonb NOT NULL,
            correlation_id text NOT NULL,
            params jsonb NOT NULL DEFAULT '{}',
            outputs jsonb,
            error text,
            attempts integer NOT NULL DEFAULT 0,
            worker text,
            created_at timestamptz NOT NULL DEFAULT now(),
            started_at timestamptz,
            heartbeat_at timestamptz,
            finished_at timestamptz
        )""")
    # At most one running operation per stack, whatever the service instances do.
    op.execute("CREATE UNIQUE INDEX operations_one_running_per_stack ON operations (stack) WHERE status = 'running'")
    op.execute("CREATE INDEX operations_queue ON operations (created_at) WHERE status IN ('queued', 'running')")
    op.execute("CREATE INDEX operations_tenant ON operations (tenant, created_at)")
    op.execute("""
        CREATE TABLE operation_events (
            operation_id text NOT NULL REFERENCES operations(id) ON DELETE CASCADE,
            sequence integer NOT NULL,
            at timestamptz NOT NULL DEFAULT now(),
            type text NOT NULL,
            payload jsonb NOT NULL,
            PRIMARY KEY (operation_id, sequence)
        )""")
    op.execute("""
        CREATE TABLE audit_events (
            event_id text PRIMARY KEY,
            correlation_id text NOT NULL,
            at timestamptz NOT NULL DEFAULT now(),
            actor jsonb NOT NULL,
            resource_type text NOT NULL,
            resource_id text NOT NULL,
            tenant_id text,
            action text NOT NULL,
            outcome text NOT NULL,
            metadata jsonb NOT NULL DEFAULT '{}',
            published_at timestamptz
        )""")
    op.execute("CREATE INDEX audit_events_tenant ON audit_events (tenant_id, at)")
    op.execute("CREATE INDEX audit_events_unpublished ON audit_events (at) WHERE published_at IS NULL")
    op.execute("""
        CREATE TABLE idempotency_records (
            subject text NOT NULL,
            key text NOT NULL,
            method text NOT NULL,
            path text NOT NULL,
            body_hash text NOT NULL,
            status_code integer,
            response_headers jsonb,
            response_body bytea,
            created_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (subject, key)
        )""")
    # The database is created without PUBLIC's CONNECT; the services' roles get it here, with their grants.
    for role in (roles.runtime, roles.keys, roles.audit_readonly):
        grant = f"format('GRANT CONNECT ON DATABASE %I TO %I', current_database(), '{role}')"
        op.execute(f"DO $$ BEGIN EXECUTE {grant}; END $$")
    for table in TABLES:
        op.execute(f'GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO "{roles.runtime}"')
    op.execute(f'GRANT SELECT ON audit_events TO "{roles.audit_readonly}"')
    # The executor resolves API keys and nothing else of the metadata.
    op.execute(f'REVOKE ALL ON ALL TABLES IN SCHEMA public FROM "{roles.keys}"')
    op.execute(f'GRANT SELECT ON api_keys, workspaces, tenants TO "{roles.keys}"')


def downgrade(roles: Any) -> None:  # noqa: ARG001 (alembic passes the same arguments to both)
    for table in reversed(TABLES):
        op.execute(f"DROP TABLE IF EXISTS {table} CASCADE")
