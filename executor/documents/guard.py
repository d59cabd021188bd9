"""What a request may hand to the Mongo server: filters, projections, sorts, updates, pipelines and documents are
checked here, before any of them is sent.

Nothing that runs JavaScript, writes elsewhere or reads another collection gets through (`FORBIDDEN`, anywhere in
the input, keys and nested values alike); pipelines take only the stages in `STAGES`, updates only the operators
in `UPDATE_OPERATORS`; a document or an update never names a stamp field (tenancy.py). Depth and size are bounded
because the server (SecantusDB, one Python process shared by every tenant) enforces no time limit: a pattern
that backtracks without end or an expression that multiplies data would stall every tenant's requests.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from bson.code import Code
from bson.objectid import ObjectId
from bson.regex import Regex

from executor.documents.tenancy import STAMP_FIELDS

MAX_DEPTH = 32
MAX_NODES = 10_000
MAX_STAGES = 50
MAX_SORT_KEYS = 16
MAX_ID_LENGTH = 256
MAX_PATTERN_LENGTH = 512

# Operator/stage → why it is refused (the reason is part of the answer).
FORBIDDEN = {
    "$where": "runs JavaScript",
    "$function": "runs JavaScript",
    "$accumulator": "runs JavaScript",
    "$out": "writes to another collection",
    "$merge": "writes to another collection",
    "$lookup": "reads another collection",
    "$graphLookup": "reads another collection",
    "$unionWith": "reads another collection",
    "$documents": "reads documents from outside the collection",
    "$collStats": "reads server statistics",
    "$indexStats": "reads server statistics",
    "$planCacheStats": "reads server statistics",
    "$currentOp": "reads other sessions' operations",
    "$listSessions": "reads other sessions",
    "$listLocalSessions": "reads other sessions",
    "$changeStream": "reads the change stream",
    # The server enforces no memory limit: these build unbounded data from a few bytes of input.
    "$range": "can build unbounded arrays",
    "$reduce": "can build unbounded values",
    "$densify": "can build unbounded documents",
}
STAGES = frozenset(
    {
        "$match",
        "$project",
        "$addFields",
        "$set",
        "$unset",
        "$group",
        "$sort",
        "$limit",
        "$skip",
        "$count",
        "$unwind",
        "$sortByCount",
        "$bucket",
        "$bucketAuto",
        "$facet",
        "$replaceRoot",
        "$replaceWith",
        "$sample",
        "$redact",
        "$setWindowFields",
        "$fill",
    }
)
UPDATE_OPERATORS = frozenset(
    {
        "$set",
        "$unset",
        "$inc",
        "$mul",
        "$min",
        "$max",
        "$rename",
        "$currentDate",
        "$push",
        "$addToSet",
        "$pull",
        "$pullAll",
        "$pop",
        "$bit",
    }
)
_REGEX_EXPRESSIONS = frozenset({"$regexMatch", "$regexFind", "$regexFindAll"})
_HEX_ID = re.compile(r"^[0-9a-fA-F]{24}$")
_COLLECTION = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
COLLECTION_PATTERN = _COLLECTION.pattern


class InputError(ValueError):
    """The request's filter, update, pipeline or document is refused (answered as a 400 with this message)."""


# --- the walk every input gets ----------------------------------------------------------------------------------


def _walk(value: Any, what: str, *, patterns: bool = True) -> None:
    """Depth, size, forbidden operators and JavaScript anywhere in `value`; with `patterns`, the regular
    expressions too (a query's `$regex` and Regex values, the `regex` of $regexMatch/$regexFind/$regexFindAll)."""
    nodes = 0
    stack: list[tuple[Any, int, str | None, str | None]] = [(value, 0, None, None)]
    while stack:
        item, depth, key, parent = stack.pop()
        nodes += 1
        if nodes > MAX_NODES:
            raise InputError(f"the {what} is too large (more than {MAX_NODES} values)")
        if depth > MAX_DEPTH:
            raise InputError(f"the {what} nests deeper than {MAX_DEPTH} levels")
        if isinstance(item, Mapping):
            for child_key, child in item.items():
                if not isinstance(child_key, str):
                    raise InputError(f"the {what} has a key that is not a string")
                reason = FORBIDDEN.get(child_key)
                if reason is not None:
                    raise InputError(f"{child_key} is not allowed: it {reason}")
                stack.append((child, depth + 1, child_key, key))
        elif isinstance(item, list | tuple):
            stack.extend((child, depth + 1, key, parent) for child in item)
        elif isinstance(item, Code):
            raise InputError("JavaScript code values are not accepted")
        elif not patterns:
            continue
        elif isinstance(item, Regex | re.Pattern):
            check_pattern(item.pattern)
        elif isinstance(item, str) and (key == "$regex" or (key == "regex" and parent in _REGEX_EXPRESSIONS)):
            check_pattern(item)


def check_pattern(pattern: str | bytes) -> None:
    """Refuse the regular expressions that backtrack exponentially (a repeated group that itself repeats or
    alternates: `(a+)+`, `(a|a)*`) or use backreferences; Python's `re` in the server has no time limit."""
    text = pattern.decode(errors="replace") if isinstance(pattern, bytes) else pattern
    if len(text) > MAX_PATTERN_LENGTH:
        raise InputError(f"regular expressions are limited to {MAX_PATTERN_LENGTH} characters")
    if re.search(r"\\[1-9]|\\k<|\(\?P=", text):
        raise InputError("backreferences in regular expressions are not accepted")
    groups: list[bool] = []  # per open group: does it repeat or alternate inside?
    risky_closed = False
    index = 0
    while index < len(text):
        char = text[index]
        if char == "\\":
            index += 2
            continue
        if char == "[":  # a class: skip to its end (a ']' right after '[' or '[^' is literal)
            index += 2 if text.startswith("[^", index) else 1
            index += 1 if text.startswith("]", index) else 0
            while index < len(text) and text[index] != "]":
                index += 2 if text[index] == "\\" else 1
        elif char == "(":
            groups.append(False)
            if text.startswith("(?", index):  # (?:, (?=, (?i) ...: the '?' is syntax, not a quantifier
                index += 1
        elif char == ")" and groups:
            risky_closed = groups.pop()
            if groups:
                groups[-1] = groups[-1] or risky_closed
            index += 1
            if risky_closed and _unbounded(text, index):
                raise InputError("regular expressions may not repeat a group that repeats or alternates inside")
            continue
        elif char in "*+?{|" and groups:
            groups[-1] = True
        index += 1


def _unbounded(text: str, index: int) -> bool:
    """A quantifier at `index` that repeats without a small bound: `*`, `+`, `{n,}`, or `{n}`/`{n,m}` over 10."""
    if index >= len(text):
        return False
    if text[index] in "*+":
        return True
    bound = re.match(r"\{(\d*)(,(\d*))?\}", text[index:])
    if bound is None:
        return False
    upper = bound.group(3) if bound.group(2) is not None else bound.group(1)
    return not upper or int(upper) > 10


# --- each kind of input -------------------------------------------------------------------------------------------


def check_collection(name: str) -> str:
    if not _COLLECTION.fullmatch(name):
        raise InputError("collection names are 1-64 letters, digits, '_' or '-', starting with a letter")
    return name


def check_filter(value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise InputError("the filter must be a JSON object")
    _walk(value, "filter")
    return dict(value)


def check_projection(value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise InputError("the projection must be a JSON object")
    _walk(value, "projection")
    return dict(value)


def check_sort(value: Any) -> list[tuple[str, int]]:
    """`{"field": 1 | -1, ...}`, in the order given."""
    if not isinstance(value, Mapping) or len(value) > MAX_SORT_KEYS:
        raise InputError(f'the sort must be a JSON object of at most {MAX_SORT_KEYS} fields: {{"field": 1 | -1}}')
    keys: list[tuple[str, int]] = []
    for field, direction in value.items():
        if not field or field.startswith("$") or type(direction) is not int or direction not in (1, -1):
            raise InputError(f'the sort must map field names to 1 or -1: {{"field": -1}}, not {field!r}')
        keys.append((field, direction))
    return keys


def check_pipeline(value: Any) -> list[dict[str, Any]]:
    _stages(value, depth=0)
    _walk(value, "pipeline")
    return [dict(stage) for stage in value]


def _stages(value: Any, depth: int) -> None:
    if not isinstance(value, list) or len(value) > MAX_STAGES:
        raise InputError(f"a pipeline is a JSON array of at most {MAX_STAGES} stages")
    for stage in value:
        if not isinstance(stage, Mapping) or len(stage) != 1:
            raise InputError('each pipeline stage is an object with one key: {"$match": {...}}')
        ((name, spec),) = stage.items()
        if name in FORBIDDEN:
            raise InputError(f"{name} is not allowed: it {FORBIDDEN[name]}")
        if name not in STAGES:
            raise InputError(f"the stage {name!r} is not supported; allowed: {', '.join(sorted(STAGES))}")
        if name == "$facet":
            if not isinstance(spec, Mapping) or depth > 0:
                raise InputError("$facet takes an object of sub-pipelines, and does not nest")
            for pipeline in spec.values():
                _stages(pipeline, depth + 1)


def check_update(value: Any) -> dict[str, Any]:
    """Update operators (`{"$set": {...}, "$inc": {...}}`), or a plain object meaning `$set` of its fields."""
    if not isinstance(value, Mapping) or not value:
        raise InputError('the update must be a non-empty JSON object: {"$set": {...}} or the fields to set')
    operators = [key for key in value if isinstance(key, str) and key.startswith("$")]
    if not operators:
        check_fields(value, "update")
        update: dict[str, Any] = {"$set": dict(value)}
    elif len(operators) != len(value):
        raise InputError("the update mixes operators and plain fields: use one or the other")
    else:
        update = dict(value)
    for operator, fields in update.items():
        if operator not in UPDATE_OPERATORS:
            raise InputError(f"the update operator {operator!r} is not supported; allowed: {sorted(UPDATE_OPERATORS)}")
        if not isinstance(fields, Mapping) or not fields:
            raise InputError(f"{operator} takes a non-empty object of fields")
        for path, argument in fields.items():
            _check_target(str(path))
            if operator == "$rename":
                if not isinstance(argument, str):
                    raise InputError("$rename maps fields to their new names (strings)")
                _check_target(argument)
            elif operator in _STORING:
                _check_stored(argument)
    _walk(update, "update")
    return update


# Operators whose argument is stored as it is (modifiers aside): it follows the rules of document fields.
_STORING = frozenset({"$set", "$min", "$max", "$push", "$addToSet"})
_MODIFIERS = frozenset({"$each", "$slice", "$sort", "$position"})


def _check_stored(argument: Any) -> None:
    if isinstance(argument, Mapping) and argument and all(key in _MODIFIERS for key in argument):
        argument = argument.get("$each", [])  # $push/$addToSet modifiers: the elements are what is stored
    _check_keys(argument, "update")


def _check_target(path: str) -> None:
    head = path.split(".", 1)[0]
    if not head or head.startswith("$"):
        raise InputError(f"{path!r} is not a field path")
    if head in STAMP_FIELDS:
        raise InputError(f"{head!r} is set from the credential, never by the request")
    if head == "_id":
        raise InputError("a document's _id cannot change")


def check_fields(document: Mapping[str, Any], what: str) -> None:
    """Field names of stored data: no stamp field at the top, no '$' prefix and no '.' anywhere."""
    for key in document:
        if key in STAMP_FIELDS:
            raise InputError(f"{key!r} is set from the credential, never by the request")
    _check_keys(document, what)


def _check_keys(value: Any, what: str) -> None:
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, Mapping):
            for key, child in item.items():
                if not isinstance(key, str) or key.startswith("$") or "." in key:
                    raise InputError(f"field names in a {what} may not start with '$' or contain '.': {key!r}")
                stack.append(child)
        elif isinstance(item, list):
            stack.extend(item)


def check_document(value: Any) -> dict[str, Any]:
    """A document to store; `_id` if given is a string (not 24 hex digits: those are ObjectIds) or an ObjectId."""
    if not isinstance(value, Mapping):
        raise InputError("a document must be a JSON object")
    _walk(value, "document", patterns=False)
    check_fields(value, "document")
    if "_id" in value:
        check_id(value["_id"])
    return dict(value)


def check_id(value: Any) -> str | ObjectId:
    if isinstance(value, ObjectId):
        return value
    if not isinstance(value, str) or not 0 < len(value) <= MAX_ID_LENGTH:
        raise InputError(f'_id must be an ObjectId ({{"$oid": "..."}}) or a string of 1-{MAX_ID_LENGTH} characters')
    if _HEX_ID.fullmatch(value):
        raise InputError('a 24-hex-digit _id is an ObjectId: send it as {"$oid": "..."}')
    return value


def document_id(text: str) -> str | ObjectId:
    """The `_id` a path segment names: 24 hex digits are an ObjectId, anything else the string itself."""
    if _HEX_ID.fullmatch(text):
        return ObjectId(text)
    return check_id(text)
