"""Tenant isolation of the MongoDB surface, black-box through HTTP, one test per threat.

The world's Mongo-capable workspaces (3 tenants x 2 workspaces) each hold `notes` with a marker only they have.
Every pair (victim, attacker) of distinct workspaces is tried, same-tenant pairs included; each denial has the
owner's success next to it as control. Injection attempts (operators where values go, JavaScript, stages that
read or write elsewhere) must neither succeed nor answer 5xx.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

import httpx2
import hvac
import pytest
from pymongo import AsyncMongoClient
from pymongo.errors import OperationFailure

from falcone import apikeys
from falcone.plans import Capability
from tests.executor.conftest import Workspace, World
from tests.executor.documents_fixtures import NOTES, MongoSeed, filter_param, mongo_seed

pytestmark = [pytest.mark.toolchain, pytest.mark.platform]
__all__ = ["mongo_seed"]  # a fixture of this module's tests
PROBLEM = "application/problem+json"
BASE = "/v1/mongo/collections/notes"


def _pairs(seed: MongoSeed) -> list[tuple[Workspace, Workspace]]:
    return list(itertools.permutations(seed.workspaces, 2))


def _foreign_markers(seed: MongoSeed, workspace: Workspace) -> list[str]:
    return [marker for label, marker in seed.marker.items() if label != workspace.label]


def _assert_only_own(seed: MongoSeed, workspace: Workspace, response: httpx2.Response) -> None:
    assert response.status_code == 200, response.text
    assert seed.marker[workspace.label] in response.text  # control: its own documents are there
    for marker in _foreign_markers(seed, workspace):
        assert marker not in response.text


# --- the isolation matrix: read, list, write, update, delete ---------------------------------------------------


async def test_world_has_three_mongo_tenants_with_two_workspaces(mongo_seed: MongoSeed) -> None:
    tenants = {workspace.names.tenant for workspace in mongo_seed.workspaces}
    assert len(tenants) >= 3
    assert len(mongo_seed.workspaces) == 2 * len(tenants)


async def test_foreign_key_cannot_read_another_workspaces_document(
    mongo_seed: MongoSeed, client: httpx2.AsyncClient
) -> None:
    for victim, attacker in _pairs(mongo_seed):
        for document_id in mongo_seed.ids[victim.label]:
            own = await client.get(f"{NOTES}/{document_id}", headers=victim.headers())
            assert own.status_code == 200
            assert mongo_seed.marker[victim.label] in own.text
            foreign = await client.get(f"{NOTES}/{document_id}", headers=attacker.headers())
            assert (foreign.status_code, foreign.headers["content-type"]) == (404, PROBLEM), (
                victim.label,
                attacker.label,
            )
            assert mongo_seed.marker[victim.label] not in foreign.text


async def test_foreign_key_lists_queries_and_aggregates_only_its_own_documents(
    mongo_seed: MongoSeed, client: httpx2.AsyncClient
) -> None:
    every_marker = {"owner": {"$in": list(mongo_seed.marker.values())}}
    every_id = {"_id": {"$in": [i for ids in mongo_seed.ids.values() for i in ids if "-" in i]}}
    for workspace in mongo_seed.workspaces:
        headers = workspace.headers()
        _assert_only_own(mongo_seed, workspace, await client.get(f"{BASE}/documents", headers=headers))
        by_marker = await client.get(f"{BASE}/documents", params=filter_param(every_marker), headers=headers)
        _assert_only_own(mongo_seed, workspace, by_marker)
        assert len(by_marker.json()["items"]) == 3
        by_id = await client.post(f"{BASE}/query", json={"filter": every_id, "count": True}, headers=headers)
        _assert_only_own(mongo_seed, workspace, by_id)
        assert by_id.json()["total"] == 2
        grouped = await client.post(
            f"{BASE}/aggregate",
            json={"pipeline": [{"$group": {"_id": "$owner", "n": {"$sum": 1}}}]},
            headers=headers,
        )
        _assert_only_own(mongo_seed, workspace, grouped)
        assert grouped.json()["items"] == [{"_id": mongo_seed.marker[workspace.label], "n": 3}]


async def test_foreign_key_cannot_update_another_workspaces_documents(
    mongo_seed: MongoSeed, client: httpx2.AsyncClient
) -> None:
    for victim, attacker in _pairs(mongo_seed):
        target = mongo_seed.ids[victim.label][0]
        patched = await client.patch(f"{NOTES}/{target}", json={"$set": {"owner": "pwned"}}, headers=attacker.headers())
        assert patched.status_code == 404, (victim.label, attacker.label)
        replaced = await client.put(f"{NOTES}/{target}", json={"owner": "pwned"}, headers=attacker.headers())
        assert replaced.status_code == 404
        bulk = await client.patch(
            f"{BASE}/documents",
            params=filter_param({"owner": mongo_seed.marker[victim.label]}),
            json={"$set": {"owner": "pwned"}},
            headers=attacker.headers(),
        )
        assert bulk.json() == {"matched": 0, "modified": 0}
    for workspace in mongo_seed.workspaces:  # nothing changed anywhere; control: the owner may update
        target = f"{NOTES}/{mongo_seed.ids[workspace.label][0]}"
        assert (await client.get(target, headers=workspace.headers())).json()["owner"] == mongo_seed.marker[
            workspace.label
        ]
        own = await client.patch(target, json={"$set": {"touched": True}}, headers=workspace.headers())
        assert (own.status_code, own.json()["touched"]) == (200, True)


async def test_foreign_key_cannot_delete_another_workspaces_documents(
    mongo_seed: MongoSeed, client: httpx2.AsyncClient
) -> None:
    for victim, attacker in _pairs(mongo_seed):
        for document_id in mongo_seed.ids[victim.label]:
            deleted = await client.delete(f"{NOTES}/{document_id}", headers=attacker.headers())
            assert deleted.status_code == 404, (victim.label, attacker.label)
        bulk = await client.delete(
            f"{BASE}/documents",
            params=filter_param({"owner": mongo_seed.marker[victim.label]}),
            headers=attacker.headers(),
        )
        assert bulk.json() == {"deleted": 0}
    for workspace in mongo_seed.workspaces:
        listed = await client.get(f"{BASE}/documents", headers=workspace.headers())
        assert len(listed.json()["items"]) == 3  # every note survived
        # control: the owner deletes a document of its own
        created = await client.post(f"{BASE}/documents", json={"scratch": 1}, headers=workspace.headers())
        scratch = created.json()["_id"]["$oid"]
        assert (await client.delete(f"{NOTES}/{scratch}", headers=workspace.headers())).status_code == 204


async def test_foreign_key_cannot_write_into_another_workspace(
    mongo_seed: MongoSeed, client: httpx2.AsyncClient
) -> None:
    for victim, attacker in _pairs(mongo_seed):
        forged_fields = {"tenant_id": victim.names.tenant, "workspace_id": victim.names.slug}
        attempts = [
            ("POST", f"{BASE}/documents", {"title": "planted", **forged_fields}),
            ("POST", f"{BASE}/documents", [{"title": "ok"}, {"title": "planted", "tenant_id": victim.names.tenant}]),
            ("PUT", f"{NOTES}/{mongo_seed.ids[attacker.label][0]}", {"title": "planted", **forged_fields}),
            ("PATCH", f"{NOTES}/{mongo_seed.ids[attacker.label][0]}", {"$set": forged_fields}),
            ("PATCH", f"{NOTES}/{mongo_seed.ids[attacker.label][0]}", {"workspace_id": victim.names.slug}),
            ("PATCH", f"{NOTES}/{mongo_seed.ids[attacker.label][0]}", {"$rename": {"owner": "tenant_id"}}),
            ("PATCH", f"{NOTES}/{mongo_seed.ids[attacker.label][0]}", {"$unset": {"tenant_id": ""}}),
            ("PATCH", f"{NOTES}/{mongo_seed.ids[attacker.label][0]}", {"$set": {"tenant_id.x": 1}}),
        ]
        for method, url, body in attempts:
            response = await client.request(method, url, json=body, headers=attacker.headers())
            assert (response.status_code, response.headers["content-type"]) == (400, PROBLEM), (method, body)
    for workspace in mongo_seed.workspaces:
        listed = await client.get(f"{BASE}/documents", params={"limit": 100}, headers=workspace.headers())
        assert "planted" not in listed.text  # not even the first of the refused batch
        # control: a document without stamp fields is written, and only its workspace sees it
        mine = f"fresh-{workspace.label}"
        assert (
            await client.post(f"{BASE}/documents", json={"note": mine}, headers=workspace.headers())
        ).status_code == 201
        for other in mongo_seed.workspaces:
            seen = await client.get(f"{BASE}/documents", params=filter_param({"note": mine}), headers=other.headers())
            assert (mine in seen.text) == (other is workspace)


# --- the predicate cannot be widened ------------------------------------------------------------------------


async def test_or_and_stamp_fields_in_a_filter_cannot_escape_the_predicate(
    mongo_seed: MongoSeed, client: httpx2.AsyncClient
) -> None:
    for victim, attacker in _pairs(mongo_seed):
        victim_stamp = {"tenant_id": victim.names.tenant, "workspace_id": victim.names.slug}
        escapes = [
            victim_stamp,
            {"$or": [victim_stamp, {"_id": {"$exists": True}}]},
            {"$or": [{"tenant_id": {"$ne": attacker.names.tenant}}, {"tenant_id": {"$exists": False}}]},
            {"$nor": [{"tenant_id": attacker.names.tenant}]},
            {"$expr": {"$ne": ["$tenant_id", attacker.names.tenant]}},
            {"owner": mongo_seed.marker[victim.label]},
        ]
        for escape in escapes:
            listed = await client.get(f"{BASE}/documents", params=filter_param(escape), headers=attacker.headers())
            assert listed.status_code == 200, listed.text
            assert mongo_seed.marker[victim.label] not in listed.text, escape
        matched = await client.post(
            f"{BASE}/aggregate", json={"pipeline": [{"$match": victim_stamp}]}, headers=attacker.headers()
        )
        assert matched.json()["items"] == []
    # control: the attacker's own stamp narrows nothing away from its own documents
    for workspace in mongo_seed.workspaces:
        own_stamp = {"tenant_id": workspace.names.tenant, "workspace_id": workspace.names.slug}
        listed = await client.get(f"{BASE}/documents", params=filter_param(own_stamp), headers=workspace.headers())
        _assert_only_own(mongo_seed, workspace, listed)


async def test_spoofed_tenant_headers_with_a_valid_key_are_ignored(
    world: World, mongo_seed: MongoSeed, client: httpx2.AsyncClient
) -> None:
    assert world.settings.gateway_secret is not None
    for victim, attacker in _pairs(mongo_seed):
        spoofed = {
            **attacker.headers(),
            "x-tenant-id": victim.names.tenant,
            "x-workspace-id": victim.names.slug,
            "x-pg-role": "service",
            "x-gateway-secret": world.settings.gateway_secret.get_secret_value(),
        }
        _assert_only_own(mongo_seed, attacker, await client.get(f"{BASE}/documents", headers=spoofed))
        victim_doc = await client.get(f"{NOTES}/{mongo_seed.ids[victim.label][0]}", headers=spoofed)
        assert victim_doc.status_code == 404


async def test_invalid_credential_fails_closed(world: World, mongo_seed: MongoSeed, client: httpx2.AsyncClient) -> None:
    victim = mongo_seed.workspaces[0]
    forged = apikeys.generate("service").secret
    for credential in ({"apikey": forged}, {"apikey": victim.service_key[:-1] + "x"}, {}):
        for method, url in (("GET", f"{BASE}/documents"), ("POST", f"{BASE}/query"), ("GET", "/v1/mongo/collections")):
            body: dict[str, Any] | None = {"filter": {}} if method == "POST" else None
            response = await client.request(method, url, json=body, headers=credential)
            assert (response.status_code, response.headers["content-type"]) == (401, PROBLEM), credential
            assert mongo_seed.marker[victim.label] not in response.text
    _assert_only_own(mongo_seed, victim, await client.get(f"{BASE}/documents", headers=victim.headers()))


async def test_anon_key_reads_but_cannot_write(mongo_seed: MongoSeed, client: httpx2.AsyncClient) -> None:
    for workspace in mongo_seed.workspaces:
        anon = workspace.headers("anon")
        _assert_only_own(mongo_seed, workspace, await client.get(f"{BASE}/documents", headers=anon))
        target = f"{NOTES}/{mongo_seed.ids[workspace.label][0]}"
        writes = [
            ("POST", f"{BASE}/documents", {"title": "anon"}, {}),
            ("PATCH", target, {"$set": {"title": "anon"}}, {}),
            ("PUT", target, {"title": "anon"}, {}),
            ("DELETE", target, None, {}),
            ("PATCH", f"{BASE}/documents", {"$set": {"title": "anon"}}, {"all": "true"}),
            ("DELETE", f"{BASE}/documents", None, {"all": "true"}),
        ]
        for method, url, body, params in writes:
            response = await client.request(method, url, json=body, params=params, headers=anon)
            assert (response.status_code, response.headers["content-type"]) == (403, PROBLEM), (method, url)
        listed = await client.get(f"{BASE}/documents", headers=workspace.headers())
        assert len(listed.json()["items"]) >= 3
        assert "anon" not in {item.get("title") for item in listed.json()["items"]}


async def test_workspace_without_mongo_answers_404(world: World, client: httpx2.AsyncClient) -> None:
    starters = [workspace for workspace in world.workspaces if not workspace.allows(Capability.MONGO)]
    assert starters
    for workspace in starters:
        for method, url, body in (
            ("GET", "/v1/mongo/collections", None),
            ("GET", f"{BASE}/documents", None),
            ("POST", f"{BASE}/documents", {"a": 1}),
            ("POST", f"{BASE}/query", {"filter": {}}),
        ):
            response = await client.request(method, url, json=body, headers=workspace.headers())
            assert (response.status_code, response.headers["content-type"]) == (404, PROBLEM)
            assert "no document database" in response.json()["detail"]
        # control: the same workspace's PostgreSQL tables answer
        assert (await client.get("/v1/collections", headers=workspace.headers())).status_code == 200


async def test_workspace_database_user_cannot_reach_another_workspace_database(
    world: World, mongo_seed: MongoSeed
) -> None:
    """The second wall: even a request that slipped past the predicate runs as a user confined to its database."""
    vault = world.deployment.backends.vault
    assert vault is not None
    kv: Any = hvac.Client(url=vault.address, token=vault.token).secrets.kv.v2
    for victim, attacker in _pairs(mongo_seed)[:4]:
        secret = kv.read_secret_version(
            path=f"{attacker.names.vault_prefix}/documents",
            mount_point=world.deployment.outputs.vault_mount,
            raise_on_deleted_version=True,
        )["data"]["data"]
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
            world.settings.mongo_url,
            username=secret["user"],
            password=secret["password"],
            authSource=secret["database"],
        )
        try:
            own = await client[attacker.names.mongo_database]["notes"].count_documents({})
            assert own >= 3  # control
            with pytest.raises(OperationFailure) as refused:
                await client[victim.names.mongo_database]["notes"].find_one({})
            assert refused.value.code == 13  # Unauthorized
        finally:
            await client.close()


# --- injection: operators where values go, JavaScript, other collections -------------------------------------

_REFUSED_FILTERS = [
    {"$where": "this.owner != ''"},
    {"owner": {"$where": "true"}},
    {"$expr": {"$function": {"body": "function() { return true }", "args": [], "lang": "js"}}},
    {"$and": [{"a": 1}, {"$or": [{"$where": "sleep(1000)"}]}]},
    {"owner": {"$regex": "(a+)+$"}},
    {"owner": {"$regularExpression": {"pattern": "(x|x)*y", "options": ""}}},
    {"owner": {"$code": "function() {}"}},
    {"$expr": {"$gt": [{"$size": {"$range": [0, 100000000]}}, 1]}},
]
_REFUSED_PIPELINES: list[list[dict[str, Any]]] = [
    [{"$out": "stolen"}],
    [{"$merge": {"into": "stolen"}}],
    [{"$lookup": {"from": "crud", "localField": "x", "foreignField": "x", "as": "y"}}],
    [{"$unionWith": "crud"}],
    [{"$graphLookup": {"from": "crud", "startWith": "$x", "connectFromField": "x", "connectToField": "x", "as": "y"}}],
    [{"$collStats": {}}],
    [{"$indexStats": {}}],
    [{"$currentOp": {}}],
    [{"$listSessions": {}}],
    [{"$documents": [{"a": 1}]}],
    [{"$changeStream": {}}],
    [{"$group": {"_id": None, "x": {"$accumulator": {"init": "function() {}", "lang": "js"}}}}],
    [{"$match": {"$where": "true"}}],
    [{"$facet": {"a": [{"$lookup": {"from": "crud", "pipeline": [], "as": "y"}}]}}],
    [{"$project": {"x": {"$function": {"body": "return 1", "args": [], "lang": "js"}}}}],
    [{"$densify": {"field": "n", "range": {"step": 1, "bounds": [0, 100000000]}}}],
]


async def test_dangerous_operators_are_refused_and_change_nothing(
    mongo_seed: MongoSeed, client: httpx2.AsyncClient
) -> None:
    workspace = mongo_seed.workspaces[-1]
    headers = workspace.headers()
    for refused_filter in _REFUSED_FILTERS:
        listed = await client.get(f"{BASE}/documents", params=filter_param(refused_filter), headers=headers)
        queried = await client.post(f"{BASE}/query", json={"filter": refused_filter}, headers=headers)
        deleted = await client.delete(f"{BASE}/documents", params=filter_param(refused_filter), headers=headers)
        for response in (listed, queried, deleted):
            assert (response.status_code, response.headers["content-type"]) == (400, PROBLEM), refused_filter
            assert mongo_seed.marker[workspace.label] not in response.text
    for pipeline in _REFUSED_PIPELINES:
        response = await client.post(f"{BASE}/aggregate", json={"pipeline": pipeline}, headers=headers)
        assert (response.status_code, response.headers["content-type"]) == (400, PROBLEM), pipeline
    collections = (await client.get("/v1/mongo/collections", headers=headers)).json()["items"]
    assert "stolen" not in collections
    listed = await client.get(f"{BASE}/documents", headers=headers)
    assert len(listed.json()["items"]) >= 3  # the refused bulk deletes deleted nothing


async def test_operators_in_values_and_ids_are_data_not_queries(
    mongo_seed: MongoSeed, client: httpx2.AsyncClient
) -> None:
    workspace = mongo_seed.workspaces[0]
    headers = workspace.headers()
    # The classic injection: an operator object where an id goes. Path ids are strings, never parsed.
    for document_id in ('{"$ne": null}', '{"$gt": ""}', "[$ne]=1", "$where", ".*"):
        for method in ("GET", "PATCH", "PUT", "DELETE"):
            body = {"$set": {"x": 1}} if method == "PATCH" else ({"x": 1} if method == "PUT" else None)
            response = await client.request(method, f"{NOTES}/{document_id}", json=body, headers=headers)
            assert response.status_code in {404, 422}, (method, document_id, response.text)
            assert mongo_seed.marker[workspace.label] not in response.text
    # Operator-looking keys in stored documents and updates are refused, not executed.
    stored_operators = [{"$where": "1"}, {"a": {"$gt": 1}}, {"a": [{"$set": {"tenant_id": "x"}}]}, {"$set": {"a": 1}}]
    for document in stored_operators:
        response = await client.post(f"{BASE}/documents", json=document, headers=headers)
        assert (response.status_code, response.headers["content-type"]) == (400, PROBLEM), document
    # An update pipeline (an array) or an unknown operator is not an update.
    target = f"{NOTES}/{mongo_seed.ids[workspace.label][0]}"
    updates: list[Any] = [[{"$set": {"a": 1}}], {"$where": "1"}, {"$function": {}}, {"$setOnInsert": {"a": 1}}]
    for update in updates:
        response = await client.patch(target, json=update, headers=headers)
        assert response.status_code in {400, 422}, update
        assert response.headers["content-type"] == PROBLEM
    # A string that looks like an operator is compared as a string.
    literal = await client.get(
        f"{BASE}/documents", params={"filter": json.dumps({"owner": '{"$ne": null}'})}, headers=headers
    )
    assert literal.json()["items"] == []
    control = await client.get(f"{BASE}/documents", params=filter_param({"owner": {"$ne": None}}), headers=headers)
    _assert_only_own(mongo_seed, workspace, control)


@pytest.mark.parametrize(
    "raw_filter",
    [
        "",
        "null",
        "1",
        '"text"',
        "[]",
        "{",
        '{"a": NaN}',
        '{"a": {"$oid": 1}}',
        '{"a": {"$numberDecimal": "x"}}',
        '{"a": {"$timestamp": {"t": -1, "i": 0}}}',
        '{"a": {"$binary": {}}}',
        '{"a": {"$dbPointer": {}}}',
        '{"a": {"$uuid": "zz"}}',
        '{"$and": []}',
        '{"$or": {}}',
        '{"a": {"$in": 5}}',
        '{"a": {"$elemMatch": 5}}',
        '{"a": {"$jsonSchema": 1}}',
        '{"$jsonSchema": {"properties": {"a": {"bsonType": "nope"}}}}',
        '{"a": {"$regex": "["}}',
        '{"a": {"$type": "nope"}}',
        '{"a": {"$mod": [0, 0]}}',
        '{"a": {"$size": -1}}',
        '{"a\\u0000b": 1}',
        '{"a": {"$numberLong": "99999999999999999999"}}',
        "[" * 5000 + "]" * 5000,
        '{"a":' * 200 + "1" + "}" * 200,
    ],
)
async def test_malformed_filters_never_answer_5xx(
    mongo_seed: MongoSeed, client: httpx2.AsyncClient, raw_filter: str
) -> None:
    workspace = mongo_seed.workspaces[0]
    listed = await client.get(f"{BASE}/documents", params={"filter": raw_filter}, headers=workspace.headers())
    assert listed.status_code < 500, listed.text
    assert listed.headers["content-type"] in {PROBLEM, "application/json"}
    for marker in _foreign_markers(mongo_seed, workspace):
        assert marker not in listed.text
