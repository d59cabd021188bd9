"""PostgreSQL through asyncpg: the provisioning superuser works, and a role it creates can log in."""

import secrets

import asyncpg
import pytest

from localplatform.endpoints import PostgresEndpoint

pytestmark = pytest.mark.platform


async def test_admin_creates_login_role(postgres_endpoint: PostgresEndpoint) -> None:
    ep = postgres_endpoint
    role = f"smoke_{secrets.token_hex(4)}"
    password = secrets.token_hex(16)  # hex only: safe inside the DDL literal below
    admin = await asyncpg.connect(
        host=ep.host, port=ep.port, user=ep.admin_user, password=ep.admin_password, database=ep.database
    )
    try:
        assert await admin.fetchval("SELECT current_setting('is_superuser')") == "on"
        assert int(await admin.fetchval("SHOW server_version_num")) // 10000 == 15
        # DDL takes no bind parameters; role and password are generated, never user input.
        await admin.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
        try:
            user = await asyncpg.connect(host=ep.host, port=ep.port, user=role, password=password, database=ep.database)
            try:
                assert await user.fetchval("SELECT current_user") == role
                assert await user.fetchval("SELECT current_setting('is_superuser')") == "off"
            finally:
                await user.close()
            with pytest.raises(asyncpg.InvalidPasswordError):
                await asyncpg.connect(host=ep.host, port=ep.port, user=role, password="wrong", database=ep.database)
        finally:
            await admin.execute(f"DROP ROLE IF EXISTS {role}")
    finally:
        await admin.close()
