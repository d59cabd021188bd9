"""The platform metadata database: its schema (alembic migrations) and the pieces both services share."""
