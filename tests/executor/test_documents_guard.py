"""Unit tests of the document surface's input checks and tenant predicate (pure functions, no server)."""

from __future__ import annotations

from typing import Any

import pytest
from bson.code import Code
from bson.objectid import ObjectId
from bson.regex import Regex

from executor.documents import codec, guard, tenancy
from executor.documents.guard import InputError


def test_the_predicate_is_anded_and_cannot_be_widened() -> None:
    client_filter = {"$or": [{"tenant_id": "victim"}, {"a": 1}]}
    scoped = tenancy.scope_filter(client_filter, "t1", "prod")
    assert scoped == {"$and": [client_filter, {"tenant_id": "t1", "workspace_id": "prod"}]}
    assert tenancy.scope_filter({}, "t1", "prod") == {"tenant_id": "t1", "workspace_id": "prod"}
    assert tenancy.scope_pipeline([{"$limit": 1}], "t1", "prod")[0] == {
        "$match": {"tenant_id": "t1", "workspace_id": "prod"}
    }
    assert tenancy.predicate("t1", "prod", "fullDocument.") == {
        "fullDocument.tenant_id": "t1",
        "fullDocument.workspace_id": "prod",
    }
    assert tenancy.stamp({"a": 1}, "t1", "prod") == {"a": 1, "tenant_id": "t1", "workspace_id": "prod"}
    assert tenancy.unstamped({"a": 1, "tenant_id": "t1", "workspace_id": "prod"}) == {"a": 1}


@pytest.mark.parametrize(
    "value",
    [
        {"$where": "1"},
        {"a": {"$elemMatch": {"$where": "1"}}},
        {"$expr": {"$function": {"body": "x", "args": [], "lang": "js"}}},
        {"$and": [{"$or": [{"$nor": [{"$expr": {"$range": [0, 10**9]}}]}]}]},
        {"a": Code("function() {}")},
        {"a": Regex("(a+)+$")},
        {"a": {"$regex": "(a|b)*c"}},
        {"a": {"$regex": "(x)\\1"}},
        {"a": {"$regex": "a" * 600}},
        {"a": {"$in": [{"$out": 1}]}},
        {"a": 1, 1: 2},
    ],
)
def test_filters_with_dangerous_content_are_refused(value: dict[Any, Any]) -> None:
    with pytest.raises(InputError):
        guard.check_filter(value)


def test_filters_may_use_the_query_language() -> None:
    value = {
        "$or": [{"a": {"$gt": 1}}, {"b": {"$in": [1, 2]}}],
        "c": {"$regex": "^abc.*$", "$options": "i"},
        "d": {"$elemMatch": {"e": {"$exists": True}}},
        "$expr": {"$regexMatch": {"input": "$f", "regex": "^x+$"}},
    }
    assert guard.check_filter(value) == value


def test_depth_and_size_are_bounded() -> None:
    deep: dict[str, Any] = {"a": 1}
    for _ in range(guard.MAX_DEPTH + 1):
        deep = {"a": deep}
    with pytest.raises(InputError, match="deeper"):
        guard.check_filter(deep)
    with pytest.raises(InputError, match="too large"):
        guard.check_filter({"a": {"$in": list(range(guard.MAX_NODES + 1))}})


@pytest.mark.parametrize(
    ("pattern", "refused"),
    [
        ("(a+)+$", True),
        ("(a|a)*b", True),
        ("(a?){25}a{25}", True),
        ("(?:a+)+", True),
        ("((ab)*c)+", True),
        ("(a)\\1", True),
        ("(?P<x>a)(?P=x)", True),
        ("^abc.*def$", False),
        ("(foo|bar)?x", False),
        ("(ab){2}", False),
        ("(?:ab)+", False),
        ("[(a+)]+", False),
        ("\\(a+\\)+", False),
        ("[a-z]+@[a-z]+\\.com", False),
    ],
)
def test_backtracking_patterns_are_refused(pattern: str, refused: bool) -> None:
    if refused:
        with pytest.raises(InputError):
            guard.check_pattern(pattern)
    else:
        guard.check_pattern(pattern)


def test_documents_cannot_name_stamp_fields_or_operators() -> None:
    for document in (
        {"tenant_id": "x"},
        {"workspace_id": "x"},
        {"$set": 1},
        {"a": {"$gt": 1}},
        {"a": [{"b.c": 1}]},
        {"_id": "5f0000000000000000000000"},
        {"_id": 5},
        {"_id": ""},
        {"a": Code("x")},
    ):
        with pytest.raises(InputError):
            guard.check_document(document)
    kept = {"_id": ObjectId(), "nested": {"tenant_id": "is data here"}, "regex": "(a+)+", "r": Regex("(a+)+")}
    assert guard.check_document(kept) == kept


@pytest.mark.parametrize(
    "update",
    [
        {},
        {"$set": {"a": 1}, "b": 2},
        {"$setOnInsert": {"a": 1}},
        {"$where": "1"},
        {"$set": {}},
        {"$set": {"tenant_id": "x"}},
        {"$set": {"workspace_id.x": "x"}},
        {"$unset": {"tenant_id": ""}},
        {"$rename": {"a": "tenant_id"}},
        {"$rename": {"a": 1}},
        {"$set": {"_id": 1}},
        {"$set": {"a": {"$b": 1}}},
        {"$push": {"a": {"$each": [{"$x": 1}]}}},
        {"$inc": "a"},
        {"$pull": {"a": {"$where": "1"}}},
    ],
)
def test_updates_outside_the_allow_list_are_refused(update: dict[str, Any]) -> None:
    with pytest.raises(InputError):
        guard.check_update(update)


def test_updates_in_the_allow_list_pass() -> None:
    assert guard.check_update({"a": 1}) == {"$set": {"a": 1}}
    update = {
        "$set": {"a.b": 1},
        "$inc": {"n": 1},
        "$push": {"tags": {"$each": ["x"], "$slice": -5}},
        "$pull": {"old": {"$in": [1, 2]}},
        "$rename": {"x": "y"},
    }
    assert guard.check_update(update) == update


def test_pipelines_take_only_allowed_stages() -> None:
    ok = [{"$match": {"a": 1}}, {"$group": {"_id": "$a", "n": {"$sum": 1}}}, {"$facet": {"x": [{"$count": "c"}]}}]
    assert guard.check_pipeline(ok) == ok
    refused: list[Any] = [
        [{"$out": "x"}],
        [{"$lookup": {}}],
        [{"$geoNear": {}}],
        [{"$match": {}, "$limit": 1}],
        [{"$facet": {"x": [{"$unionWith": "y"}]}}],
        [{"$facet": {"x": [{"$facet": {}}]}}],
        [{"$limit": 1}] * (guard.MAX_STAGES + 1),
        {"$match": {}},
        [{"$project": {"x": {"$reduce": {}}}}],
    ]
    for pipeline in refused:
        with pytest.raises(InputError):
            guard.check_pipeline(pipeline)


def test_sort_is_fields_to_one_or_minus_one() -> None:
    assert guard.check_sort({"a": 1, "b": -1}) == [("a", 1), ("b", -1)]
    for sort in ({"a": 2}, {"a": True}, {"$natural": 1}, {"": 1}, [("a", 1)], {"a": "1"}):
        with pytest.raises(InputError):
            guard.check_sort(sort)


def test_path_ids_are_objectids_when_24_hex_else_strings() -> None:
    oid = ObjectId()
    assert guard.document_id(str(oid)) == oid
    assert guard.document_id("note-1") == "note-1"
    assert guard.document_id('{"$ne": null}') == '{"$ne": null}'


def test_extended_json_is_decoded_or_refused() -> None:
    oid = ObjectId()
    assert codec.from_json({"a": {"$oid": str(oid)}, "b": [{"$numberLong": "5"}]}) == {"a": oid, "b": [5]}
    malformed: list[dict[str, Any]] = [
        {"$date": "soon"},
        {"$binary": {}},
        {"$oid": 1},
        {"$uuid": "zz"},
        {"$numberDecimal": "x"},
    ]
    for bad in malformed:
        with pytest.raises(InputError):
            codec.from_json({"a": bad})
    with pytest.raises(InputError):
        codec.parse("{", "filter")


def test_cursors_round_trip_and_foreign_ones_are_refused() -> None:
    oid = ObjectId()
    assert codec.decode_cursor(codec.encode_cursor(oid)) == oid
    assert codec.decode_cursor(codec.encode_cursor("a-1")) == "a-1"
    for cursor in ("!!", "", "bm90IGpzb24", codec.encode_cursor(5), codec.encode_cursor({"$gt": ""})):
        with pytest.raises(InputError):
            codec.decode_cursor(cursor)
