"""The MongoDB dynamic provider, run by the real engine against the local platform's MongoDB-wire server.

Isolation: databases A and B, user A with readWrite on A only and user B on B only; through pymongo's
AsyncMongoClient each user works in its own database and is refused (Unauthorized) on the other's. Drift (an
extra role, a password reset, a dropped user) is detected by refresh and repaired by `up`.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any
from uuid import uuid4

import pulumi
import pytest
from pulumi.automation import OpType
from pymongo import AsyncMongoClient, MongoClient
from pymongo.errors import OperationFailure

from components.connections import Backends, MongoConnection
from components.providers.mongo import (
    DatabaseArgs,
    DatabaseProvider,
    MongoDatabase,
    MongoUser,
    RoleGrant,
    UserArgs,
    UserProvider,
)
from falcone import pulumi_runner
from falcone.toolchain import Toolchain
from localplatform.endpoints import MongoEndpoint
from tests.providers.direct import provider_props

pytestmark = [pytest.mark.platform, pytest.mark.toolchain]

TENANTS = ("a", "b")
UNAUTHORIZED = 13
AUTHENTICATION_FAILED = 18
SECRET_SIG = "4dabf18193072939515e22adb298388d"  # how Pulumi state marks a secret value


def _quiet(_line: str) -> None:
    """Engine output goes to the test log only on failure (the CommandError carries it)."""


def _password(tenant: str) -> str:
    return f"pw-of-{tenant}-0123456789"


def _program(prefix: str, connection: MongoConnection) -> pulumi.automation.PulumiFn:
    def program() -> None:
        for tenant in TENANTS:
            database = MongoDatabase(f"db-{tenant}", DatabaseArgs(name=f"{prefix}_{tenant}"), connection)
            MongoUser(
                f"user-{tenant}",
                UserArgs(
                    username=f"{prefix}_{tenant}_app",
                    password=_password(tenant),
                    database=f"{prefix}_{tenant}",
                    roles=[RoleGrant(role="readWrite", db=f"{prefix}_{tenant}")],
                ),
                connection,
                opts=pulumi.ResourceOptions(depends_on=[database]),
            )

    return program


def _roles(admin: MongoClient[dict[str, Any]], database: str, username: str) -> list[tuple[str, str]] | None:
    users = admin[database].command("usersInfo", {"user": username, "db": database})["users"]
    if not users:
        return None
    return sorted((grant["role"], grant["db"]) for grant in users[0]["roles"])


def _user_client(ep: MongoEndpoint, username: str, password: str, database: str) -> AsyncMongoClient[dict[str, Any]]:
    return AsyncMongoClient(
        host=ep.host, port=ep.port, username=username, password=password, authSource=database, directConnection=True
    )


async def _works_in(ep: MongoEndpoint, username: str, password: str, database: str) -> None:
    """Positive control: the user inserts and finds in its own database."""
    client = _user_client(ep, username, password, database)
    try:
        marker = uuid4().hex
        await client[database]["items"].insert_one({"marker": marker})
        found = await client[database]["items"].find_one({"marker": marker})
        assert found is not None
        assert found["marker"] == marker
    finally:
        await client.close()


async def _refused_on(ep: MongoEndpoint, username: str, password: str, own: str, other: str) -> None:
    """Negative check: reading and writing another tenant's database are both Unauthorized."""
    client = _user_client(ep, username, password, own)
    try:
        with pytest.raises(OperationFailure) as read_denied:
            await client[other]["items"].find_one()
        assert read_denied.value.code == UNAUTHORIZED
        with pytest.raises(OperationFailure) as write_denied:
            await client[other]["items"].insert_one({"stolen": True})
        assert write_denied.value.code == UNAUTHORIZED
    finally:
        await client.close()


async def _reads(ep: MongoEndpoint, username: str, password: str, own: str, other: str) -> None:
    client = _user_client(ep, username, password, own)
    try:
        await client[other]["items"].find_one()
    finally:
        await client.close()


async def _login_refused(ep: MongoEndpoint, username: str, password: str, database: str) -> None:
    client = _user_client(ep, username, password, database)
    try:
        with pytest.raises(OperationFailure) as refused:
            await client[database].command("ping")
        assert refused.value.code == AUTHENTICATION_FAILED
    finally:
        await client.close()


def test_databases_and_users_isolate_tenants(
    toolchain: Toolchain, backends: Backends, mongo_endpoint: MongoEndpoint, backend_dir: Path
) -> None:
    _ = toolchain
    assert backends.mongo is not None
    ep = mongo_endpoint
    prefix = f"t{uuid4().hex[:8]}"
    db = {tenant: f"{prefix}_{tenant}" for tenant in TENANTS}
    user = {tenant: f"{prefix}_{tenant}_app" for tenant in TENANTS}
    admin: MongoClient[dict[str, Any]] = MongoClient(backends.mongo.uri, serverSelectionTimeoutMS=15000)
    stack = pulumi_runner.inline_stack("mongo", _program(prefix, backends.mongo), backend_dir, "foundation-mongo")
    try:
        assert stack.up(on_output=_quiet).summary.result == "succeeded"
        assert {db["a"], db["b"]} <= set(admin.list_database_names())
        for tenant in TENANTS:
            assert _roles(admin, db[tenant], user[tenant]) == [("readWrite", db[tenant])]

        # Passwords and the admin URI are secrets in state: encrypted on disk, never in clear text.
        state = (backend_dir / ".pulumi" / "stacks" / "foundation-mongo" / "mongo.json").read_text()
        assert _password("a") not in state
        assert ep.admin_password not in state
        deployment = stack.export_stack().deployment
        assert deployment is not None
        exported = {r["urn"].rsplit("::", 1)[1]: r for r in deployment["resources"]}
        assert SECRET_SIG in exported["user-a"]["outputs"]["password"]

        # Isolation: each user works in its own database and is refused on the other's.
        asyncio.run(_works_in(ep, user["a"], _password("a"), db["a"]))
        asyncio.run(_works_in(ep, user["b"], _password("b"), db["b"]))
        asyncio.run(_refused_on(ep, user["a"], _password("a"), db["a"], db["b"]))
        asyncio.run(_refused_on(ep, user["b"], _password("b"), db["b"], db["a"]))

        clean = stack.preview_refresh(on_output=_quiet)
        assert set(clean.change_summary) <= {OpType.SAME}, clean.change_summary

        # Out of band: user A is granted readWrite on B, and B's password is reset.
        admin[db["a"]].command("grantRolesToUser", user["a"], roles=[{"role": "readWrite", "db": db["b"]}])
        admin[db["b"]].command("updateUser", user["b"], pwd="reset-by-hand")
        asyncio.run(_reads(ep, user["a"], _password("a"), db["a"], db["b"]))  # the grant really applies
        asyncio.run(_login_refused(ep, user["b"], _password("b"), db["b"]))

        drift = stack.preview_refresh(on_output=_quiet)
        assert drift.change_summary.get(OpType.UPDATE) == 2, drift.change_summary
        stack.refresh(on_output=_quiet)
        assert stack.up(on_output=_quiet).summary.result == "succeeded"
        assert _roles(admin, db["a"], user["a"]) == [("readWrite", db["a"])]
        asyncio.run(_refused_on(ep, user["a"], _password("a"), db["a"], db["b"]))
        asyncio.run(_works_in(ep, user["b"], _password("b"), db["b"]))

        # Out of band: user A is dropped. Refresh sees it gone; `up` creates it again.
        admin[db["a"]].command("dropUser", user["a"])
        gone = stack.preview_refresh(on_output=_quiet)
        assert gone.change_summary.get(OpType.DELETE) == 1, gone.change_summary
        stack.refresh(on_output=_quiet)
        assert stack.up(on_output=_quiet).summary.result == "succeeded"
        assert _roles(admin, db["a"], user["a"]) == [("readWrite", db["a"])]
        asyncio.run(_works_in(ep, user["a"], _password("a"), db["a"]))
        asyncio.run(_refused_on(ep, user["a"], _password("a"), db["a"], db["b"]))

        after = stack.preview_refresh(on_output=_quiet)
        assert set(after.change_summary) <= {OpType.SAME}, after.change_summary
    finally:
        stack.destroy(on_output=_quiet)
    try:
        for tenant in TENANTS:
            assert _roles(admin, db[tenant], user[tenant]) is None
            assert db[tenant] not in admin.list_database_names()
    finally:
        admin.close()
    stack.workspace.remove_stack("mongo")


# --- adoption: a create that reached the server but not the state runs again (components/providers/base.py) ---


@pytest.fixture
def mongo(backends: Backends) -> MongoConnection:
    assert backends.mongo is not None
    return backends.mongo


def test_create_adopts_a_database_left_by_an_interrupted_run(mongo: MongoConnection) -> None:
    name = f"t{uuid4().hex[:8]}_a"
    props = provider_props(DatabaseArgs(name=name), mongo)
    admin: MongoClient[dict[str, Any]] = MongoClient(mongo.uri)
    try:
        admin[name]["items"].insert_one({"kept": True})  # the leftover, holding data already

        result = DatabaseProvider().create(props)

        assert (result.id, result.outs) == (name, props)
        assert admin[name]["_falcone"].find_one({"_id": "falcone"}) is not None
        assert admin[name]["items"].count_documents({"kept": True}) == 1
    finally:
        DatabaseProvider().delete(name, props)
        admin.close()


def test_create_adopts_a_user_left_by_an_interrupted_run(mongo: MongoConnection, mongo_endpoint: MongoEndpoint) -> None:
    database = f"t{uuid4().hex[:8]}_a"
    username = f"{database}_app"
    args = UserArgs(
        username=username,
        password=_password("new"),
        database=database,
        roles=[RoleGrant(role="readWrite", db=database)],
    )
    props = provider_props(args, mongo)
    admin: MongoClient[dict[str, Any]] = MongoClient(mongo.uri)
    # The leftover: another password, read-only.
    admin[database].command("createUser", username, pwd=_password("old"), roles=[{"role": "read", "db": database}])
    try:
        result = UserProvider().create(props)

        assert (result.id, result.outs) == (f"{database}.{username}", props)
        assert _roles(admin, database, username) == [("readWrite", database)]
        asyncio.run(_works_in(mongo_endpoint, username, _password("new"), database))  # writes: readWrite
        asyncio.run(_login_refused(mongo_endpoint, username, _password("old"), database))
        with pytest.raises(OperationFailure) as refused:  # positive control: an unknown role still fails
            UserProvider().create({**props, "username": f"{username}2", "roles": [{"role": "nosuch", "db": database}]})
        assert refused.value.code != 51003
    finally:
        UserProvider().delete(f"{database}.{username}", props)
        admin.drop_database(database)
        admin.close()
