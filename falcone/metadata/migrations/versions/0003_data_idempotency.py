"""Idempotency records of the executor's POSTs (data calls), apart from the automation service's: the executor's
`keys` login may write this table and no other, and read nothing of the control plane's answers.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from typing import Any

from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade(roles: Any) -> None:
    op.execute("""
        CREATE TABLE data_idempotency_records (
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
    op.execute("CREATE INDEX data_idempotency_records_created_at ON data_idempotency_records (created_at)")
    op.execute(f'GRANT SELECT, INSERT, UPDATE, DELETE ON data_idempotency_records TO "{roles.keys}"')


def downgrade(roles: Any) -> None:  # noqa: ARG001
    op.execute("DROP TABLE IF EXISTS data_idempotency_records")
