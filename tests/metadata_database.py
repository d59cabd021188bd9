"""A metadata database of a test's own, migrated like the platform's, for tests that must not share rows with
the session's automation service (e.g. its audit publisher takes every unpublished event of its database)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from uuid import uuid4

import psycopg
from psycopg import sql

from falcone.metadata import migrate
from falcone.platform_stack import PlatformOutputs
from tests.platform_stack_fixtures import PlatformDeployment


@contextmanager
def own_metadata_database(deployment: PlatformDeployment, purpose: str) -> Iterator[PlatformOutputs]:
    """Create and migrate `falcone_<purpose>_<random>` (owned by the platform's migrator role, no PUBLIC access,
    as the platform stack creates its own); yields the deployment's outputs pointing at it; drops it afterwards."""
    assert deployment.backends.postgres is not None
    name = f"falcone_{purpose}_{uuid4().hex[:8]}"
    outputs = dataclasses.replace(deployment.outputs, metadata_database=name)
    with psycopg.connect(deployment.backends.postgres.dsn, autocommit=True) as admin:
        admin.execute(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name), sql.Identifier(outputs.roles.owner))
        )
        admin.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(sql.Identifier(name)))
    try:
        migrate.upgrade(outputs.metadata_dsn(deployment.backends, "migrate"), outputs.roles)
        yield outputs
    finally:
        with psycopg.connect(deployment.backends.postgres.dsn, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
