"""The document surface's seed: in every Mongo-capable workspace, a `notes` collection whose documents carry a
marker string only that workspace has (two with string ids, one with an ObjectId), written through the API."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx2
import pytest
from pymongo import AsyncMongoClient

from falcone.plans import Capability
from tests.executor.conftest import Workspace, World

NOTES = "/v1/mongo/collections/notes/documents"


@dataclass(frozen=True)
class MongoSeed:
    workspaces: list[Workspace]  # every workspace whose plan has Mongo
    marker: dict[str, str]  # workspace label -> a string only its documents contain
    ids: dict[str, list[str]]  # workspace label -> the path ids of its notes (two strings, one ObjectId hex)


def mongo_workspaces(world: World) -> list[Workspace]:
    return [workspace for workspace in world.workspaces if workspace.allows(Capability.MONGO)]


def filter_param(value: Any) -> dict[str, str]:
    return {"filter": json.dumps(value)}


async def seed_notes(world: World, client: httpx2.AsyncClient) -> MongoSeed:
    """Idempotent (each module that uses it seeds once): the notes are deleted and written again."""
    workspaces = mongo_workspaces(world)
    markers: dict[str, str] = {}
    ids: dict[str, list[str]] = {}
    for workspace in workspaces:
        headers = workspace.headers()
        marker = f"mongo-secret-{workspace.names.tenant}-{workspace.names.slug}"
        prefix = f"{workspace.names.tenant}-{workspace.names.slug}"
        cleared = await client.delete(NOTES, params={"all": "true"}, headers=headers)
        assert cleared.status_code == 200, cleared.text
        notes = [
            {"_id": f"{prefix}-1", "title": f"{marker} first", "rank": 1, "owner": marker},
            {"_id": f"{prefix}-2", "title": f"{marker} second", "rank": 2, "owner": marker, "done": True},
            {"title": f"{marker} third", "rank": 3, "owner": marker, "tags": ["a", "b"]},
        ]
        inserted = await client.post(NOTES, json=notes, headers=headers)
        assert inserted.status_code == 201, inserted.text
        items = inserted.json()["items"]
        markers[workspace.label] = marker
        ids[workspace.label] = [item["_id"]["$oid"] if isinstance(item["_id"], dict) else item["_id"] for item in items]
    return MongoSeed(workspaces, markers, ids)


@pytest.fixture(scope="module")
async def mongo_seed(world: World, client: httpx2.AsyncClient) -> MongoSeed:
    return await seed_notes(world, client)


@pytest.fixture(scope="session")
async def mongo_admin(world: World) -> Any:
    """The server as its admin: for checking what is stored (the stamp), never for the API under test."""
    assert world.deployment.backends.mongo is not None
    admin: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(world.deployment.backends.mongo.uri)
    try:
        yield admin
    finally:
        await admin.close()
