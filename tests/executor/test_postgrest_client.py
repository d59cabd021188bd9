"""The official `postgrest` client against a real `python -m executor` process: PostgREST-shaped results."""

from __future__ import annotations

from typing import Any

import pytest
from postgrest import APIError, CountMethod, SyncPostgrestClient

from tests.executor.conftest import Seed, World

pytestmark = [pytest.mark.toolchain, pytest.mark.platform]


def _rows(data: Any) -> list[dict[str, Any]]:
    assert isinstance(data, list)
    return data


def _client(url: str, key: str) -> SyncPostgrestClient:
    return SyncPostgrestClient(f"{url}/rest/v1", headers={"apikey": key, "Authorization": f"Bearer {key}"})


def test_postgrest_client_selects_filters_orders_and_counts(world: World, seed: Seed, executor_url: str) -> None:
    workspace = world.workspaces[4]
    marker = seed.marker[workspace.label]
    with _client(executor_url, workspace.service_key) as client:
        notes = client.from_("notes")
        assert notes.select("title").eq("rank", 1).execute().data == [{"title": f"{marker} first"}]
        ordered = notes.select("rank").gte("rank", 1).order("rank", desc=True).execute().data
        assert ordered == [{"rank": 2}, {"rank": 1}]
        assert notes.select("rank").in_("rank", [1, 2]).order("rank").execute().data == [{"rank": 1}, {"rank": 2}]
        assert notes.select("rank").is_("rank", None).execute().data == [{"rank": None}]
        assert notes.select("rank").like("title", "%second").execute().data == [{"rank": 2}]
        assert notes.select("rank").contains("tags", ["a"]).execute().data == [{"rank": 1}]
        assert notes.select("rank").or_("rank.eq.1,done.is.true").order("rank").execute().data == [
            {"rank": 1},
            {"rank": 2},
        ]
        counted = notes.select("id", count=CountMethod.exact).limit(1).execute()
        assert (len(counted.data), counted.count) == (1, len(notes.select("id").execute().data))
        single = notes.select("title").eq("rank", 2).single().execute()
        assert single.data == {"title": f"{marker} second"}
        assert notes.select("title").eq("rank", 99).maybe_single().execute() is None
        with pytest.raises(APIError) as refused:
            notes.select("nosuchcolumn").execute()
        assert refused.value.code == "42703"


def test_postgrest_client_inserts_upserts_updates_and_deletes(world: World, seed: Seed, executor_url: str) -> None:
    _ = seed
    workspace = world.workspaces[4]
    with _client(executor_url, workspace.service_key) as client:
        notes = client.from_("notes")
        inserted = _rows(notes.insert({"title": "via client", "rank": 7, "tags": ["x"]}).execute().data)
        assert len(inserted) == 1
        note_id = inserted[0]["id"]
        assert inserted[0]["done"] is False  # the column default
        bulk = _rows(notes.insert([{"title": "bulk 1", "rank": 8}, {"title": "bulk 2", "rank": 9}]).execute().data)
        assert [row["rank"] for row in bulk] == [8, 9]
        upserted = _rows(notes.upsert({"id": note_id, "title": "upserted", "rank": 7}).execute().data)
        assert upserted[0]["title"] == "upserted"
        ignored = notes.upsert({"id": note_id, "title": "ignored"}, ignore_duplicates=True).execute().data
        assert ignored == []
        updated = _rows(notes.update({"done": True}).eq("id", note_id).execute().data)
        assert updated[0]["done"] is True
        deleted = _rows(notes.delete().in_("rank", [7, 8, 9]).execute().data)
        assert sorted(row["rank"] for row in deleted) == [7, 8, 9]
        assert notes.select("id").eq("id", note_id).execute().data == []
    # The anon key reads through the same client and cannot write.
    with _client(executor_url, workspace.anon_key) as anon:
        assert anon.from_("notes").select("rank").eq("rank", 1).execute().data == [{"rank": 1}]
        with pytest.raises(APIError) as refused:
            anon.from_("notes").insert({"title": "anon"}).execute()
        assert refused.value.code == "42501"
