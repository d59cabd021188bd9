"""Fast unit tests of the realtime pieces that need no server: payload parsing, inbox bounds, the Mongo pipeline."""

from __future__ import annotations

import asyncio
import json

from executor.documents.tenancy import predicate
from executor.realtime.documents import DocumentChange, pipeline
from executor.realtime.feeds import Change, Inbox
from falcone import rls
from falcone.naming import WorkspaceNames

NAMES = WorkspaceNames("acme", "prod")


def test_a_notification_parses_only_as_the_trigger_sends_it() -> None:
    sent = {"table": "todos", "op": "delete", "tenant_id": "acme", "workspace_id": "prod", "key": {"id": 1}}
    assert Change.parse(json.dumps(sent)) == Change("todos", "delete", "acme", "prod", {"id": 1})
    assert Change.parse(json.dumps({**sent, "key": None})) == Change("todos", "delete", "acme", "prod", None)
    for forged in (
        "not json",
        "[]",
        json.dumps({**sent, "op": "truncate"}),
        json.dumps({**sent, "table": 7}),
        json.dumps({**sent, "key": [1]}),
        json.dumps({**sent, "tenant_id": {"$ne": ""}}),
    ):
        assert Change.parse(forged) is None, forged


async def test_an_inbox_that_falls_behind_fails_and_takes_nothing_more() -> None:
    inbox: Inbox[int] = Inbox(NAMES, "todos", size=2)
    inbox.offer(1)
    inbox.offer(2)
    assert inbox.failure is None  # control: within its bound
    inbox.offer(3)
    assert inbox.failure is not None
    inbox.offer(4)
    assert [inbox.queue.get_nowait(), inbox.queue.get_nowait()] == [1, 2]
    assert inbox.queue.empty()


async def test_a_failed_inbox_wakes_its_waiting_reader() -> None:
    inbox: Inbox[int] = Inbox(NAMES, "todos", size=2)
    waiting = asyncio.create_task(inbox.queue.get())
    await asyncio.sleep(0)
    inbox.fail("lost")
    assert await waiting is None
    assert inbox.failure == "lost"


def test_the_change_stream_matches_the_workspaces_stamp_first() -> None:
    first = pipeline(NAMES)[0]
    writes, deletes = first["$match"]["$or"]
    assert {k: v for k, v in writes.items() if k != "operationType"} == predicate("acme", "prod", "fullDocument.")
    assert deletes == {"operationType": "delete", **predicate("acme", "prod", "fullDocumentBeforeChange.")}


def test_a_change_event_without_its_stamped_document_is_no_change() -> None:
    key = {"_id": "a"}
    assert DocumentChange.of({"operationType": "update", "ns": {"coll": "c"}, "documentKey": key}) is None
    assert DocumentChange.of({"operationType": "delete", "ns": {"coll": "c"}, "documentKey": key}) is None
    assert DocumentChange.of({"operationType": "drop", "ns": {"coll": "c"}}) is None
    stamped = {"_id": "a", "tenant_id": "acme", "workspace_id": "prod"}
    change = DocumentChange.of(
        {"operationType": "insert", "ns": {"coll": "c"}, "documentKey": key, "fullDocument": stamped}
    )
    assert change == DocumentChange("c", "insert", key, "acme", "prod", stamped)


def test_every_workspaces_channel_fits_a_postgresql_identifier() -> None:
    longest = WorkspaceNames("a" * 24, "b" * 24)
    assert len(rls.change_channel(longest)) <= 63
    assert rls.change_channel(NAMES) == "ws_acme__prod_changes"
