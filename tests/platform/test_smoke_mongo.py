"""SecantusDB (MongoDB wire) through pymongo's AsyncMongoClient: SCRAM auth, a readWrite user confined
to its own database, and a change stream insert event."""

import asyncio
import secrets

import pytest
from pymongo import AsyncMongoClient
from pymongo.errors import OperationFailure

from localplatform.endpoints import MongoEndpoint

pytestmark = pytest.mark.platform


async def test_auth_roles_and_change_stream(mongo_endpoint: MongoEndpoint) -> None:
    ep = mongo_endpoint
    db_name, other_db = f"smoke_{secrets.token_hex(4)}", f"smoke_other_{secrets.token_hex(4)}"
    user, password = f"smoke_{secrets.token_hex(4)}", secrets.token_hex(16)
    admin: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(ep.uri, directConnection=True)
    try:
        await admin[other_db]["things"].insert_one({"owner": "admin"})
        await admin[db_name].command("createUser", user, pwd=password, roles=[{"role": "readWrite", "db": db_name}])

        tenant: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(
            host=ep.host,
            port=ep.port,
            username=user,
            password=password,
            authSource=db_name,
            directConnection=True,
        )
        try:
            things = tenant[db_name]["things"]
            async with await things.watch() as stream:
                await things.insert_one({"name": "first"})
                change = await asyncio.wait_for(stream.next(), timeout=30)
            assert change["operationType"] == "insert"
            inserted = change["fullDocument"]
            assert isinstance(inserted, dict)
            assert inserted["name"] == "first"

            with pytest.raises(OperationFailure) as denied:
                await tenant[other_db]["things"].find_one()
            assert denied.value.code == 13  # Unauthorized
        finally:
            await tenant.close()

        bad: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(
            host=ep.host,
            port=ep.port,
            username=user,
            password="wrong",
            authSource=db_name,
            directConnection=True,
        )
        try:
            with pytest.raises(OperationFailure):
                await bad[db_name].command("ping")
        finally:
            await bad.close()
    finally:
        await admin[db_name].command("dropUser", user)
        await admin.drop_database(db_name)
        await admin.drop_database(other_db)
        await admin.close()
