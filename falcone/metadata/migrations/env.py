"""Alembic environment: online migrations only, with the url and roles given by falcone.metadata.migrate."""

from __future__ import annotations

import psycopg
from alembic import context
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

config = context.config
roles = config.attributes["roles"]
dsn = config.attributes["dsn"]
engine = create_engine("postgresql+psycopg://", creator=lambda: psycopg.connect(dsn), poolclass=NullPool)

with engine.connect() as connection:
    connection.execute(text(f'SET ROLE "{roles.owner}"'))
    context.configure(connection=connection, version_table="alembic_version", transaction_per_migration=True)
    with context.begin_transaction():
        context.run_migrations(roles=roles)
    connection.commit()
engine.dispose()
