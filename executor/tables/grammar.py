"""PostgREST's query grammar, parsed into a small AST (no SQL here: `statements.py` compiles the AST).

    select=id,title:data->>title,done::text,*
    col=eq.x   col=not.in.(a,"b,c")   col=like(any).{a*,b*}   col=is.null   data->>k=ilike.*x*
    or=(a.eq.1,and(b.gt.2,c.is.null))   not.and=(...)
    order=col.desc.nullslast,data->>k.asc
    limit=10  offset=20  columns="a","b"  on_conflict=a,b

Names are only *parsed* here; the compiler accepts a name only if the table's catalogue has it, and sends every
value as a query parameter.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

Arrow = Literal["->", "->>"]
Quantifier = Literal["any", "all"]

# Operators and what they take: a scalar, a list `(a,b)`, an `is` keyword, or an array/range/json literal.
COMPARISONS = {"eq", "neq", "gt", "gte", "lt", "lte", "isdistinct"}
PATTERNS = {"like", "ilike", "match", "imatch"}
QUANTIFIABLE = {"eq", "neq", "gt", "gte", "lt", "lte", "like", "ilike", "match", "imatch"}
CONTAINMENT = {"cs", "cd", "ov", "sl", "sr", "nxr", "nxl", "adj"}
TEXT_SEARCH = {"fts", "plfts", "phfts", "wfts"}
OPERATORS = COMPARISONS | PATTERNS | CONTAINMENT | TEXT_SEARCH | {"in", "is"}
IS_VALUES = {"null", "not_null", "true", "false", "unknown"}
# Parameters that are not column filters.
RESERVED = {"select", "order", "limit", "offset", "columns", "on_conflict", "or", "and", "not.or", "not.and"}
CASTS = {
    "text": "text",
    "int": "integer",
    "integer": "integer",
    "int4": "integer",
    "bigint": "bigint",
    "int8": "bigint",
    "smallint": "smallint",
    "numeric": "numeric",
    "real": "real",
    "float8": "double precision",
    "double precision": "double precision",
    "bool": "boolean",
    "boolean": "boolean",
    "date": "date",
    "timestamp": "timestamp",
    "timestamptz": "timestamptz",
    "time": "time",
    "uuid": "uuid",
    "json": "json",
    "jsonb": "jsonb",
}
MAX_DEPTH = 8
MAX_ITEMS = 100

_NAME = re.compile(r'"(?:[^"\\]|\\.)+"|[A-Za-z_][A-Za-z0-9_$]*')
_KEY = re.compile(r'"(?:[^"\\]|\\.)*"|[A-Za-z0-9_$]+')
_ALIAS = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_LANGUAGE = re.compile(r"^[a-z_]{1,63}$")


class GrammarError(ValueError):
    """The query string does not follow the grammar (answered as a 400 naming the part)."""


@dataclass(frozen=True, slots=True)
class Field:
    column: str
    path: tuple[tuple[Arrow, str], ...] = ()

    @property
    def default_name(self) -> str:
        """The key a selected field gets in the result: the column, or the last JSON key (as PostgREST does)."""
        return self.path[-1][1] if self.path else self.column


@dataclass(frozen=True, slots=True)
class Condition:
    field: Field
    operator: str
    # scalar text, a tuple for `in`, the keyword for `is`
    value: str | tuple[str, ...]
    negated: bool = False
    quantifier: Quantifier | None = None
    language: str | None = None  # text search configuration: fts(english)


@dataclass(frozen=True, slots=True)
class Logic:
    operator: Literal["and", "or"]
    children: tuple[Condition | Logic, ...]
    negated: bool = False


@dataclass(frozen=True, slots=True)
class SelectItem:
    field: Field  # column "*" selects every visible column
    alias: str | None = None
    cast: str | None = None

    @property
    def is_star(self) -> bool:
        return self.field.column == "*" and not self.field.path


@dataclass(frozen=True, slots=True)
class OrderItem:
    field: Field
    descending: bool = False
    nulls: Literal["first", "last"] | None = None


STAR = (SelectItem(Field("*")),)


@dataclass(frozen=True, slots=True)
class Query:
    """Everything a request's query string says."""

    select: tuple[SelectItem, ...] = STAR
    where: tuple[Condition | Logic, ...] = ()
    order: tuple[OrderItem, ...] = ()
    limit: int | None = None
    offset: int = 0
    columns: tuple[str, ...] | None = None
    on_conflict: tuple[str, ...] | None = None
    extra: dict[str, str] = field(default_factory=dict)


def parse_query(params: list[tuple[str, str]], *, ignore: frozenset[str] = frozenset()) -> Query:
    """`params` as they came (repeated keys kept); keys in `ignore` belong to the caller (e.g. `cursor`)."""
    if len(params) > MAX_ITEMS:
        raise GrammarError(f"at most {MAX_ITEMS} query parameters")
    select: tuple[SelectItem, ...] = STAR
    where: list[Condition | Logic] = []
    order: tuple[OrderItem, ...] = ()
    limit: int | None = None
    offset = 0
    columns = on_conflict = None
    extra: dict[str, str] = {}
    seen: set[str] = set()
    for key, value in params:
        if key in ignore:
            extra[key] = value
            continue
        if key in {"select", "order", "limit", "offset", "columns", "on_conflict"}:
            if key in seen:
                raise GrammarError(f"'{key}' is given more than once")
            seen.add(key)
        if key == "select":
            select = parse_select(value)
        elif key == "order":
            order = parse_order(value)
        elif key == "limit":
            limit = _non_negative("limit", value)
        elif key == "offset":
            offset = _non_negative("offset", value)
        elif key == "columns":
            columns = parse_names("columns", value)
        elif key == "on_conflict":
            on_conflict = parse_names("on_conflict", value)
        elif key in {"or", "and", "not.or", "not.and"}:
            negated = key.startswith("not.")
            where.append(_logic_group(key.removeprefix("not."), value, negated, depth=0))
        elif "." in key and _embedded(key):
            raise GrammarError(f"'{key}': filters on embedded resources are not supported")
        else:
            where.append(parse_filter(key, value))
    return Query(select, tuple(where), order, limit, offset, columns, on_conflict, extra)


def _embedded(key: str) -> bool:
    """`rel.col=…` / `rel.or=…` (a filter on an embedded resource), as opposed to a quoted name with a dot."""
    return not key.startswith('"')


def _non_negative(name: str, value: str) -> int:
    if not value.isascii() or not value.isdigit() or len(value) > 12:
        raise GrammarError(f"'{name}' must be a non-negative integer")
    return int(value)


# --- fields ------------------------------------------------------------------------------------------------


def _unquote(token: str) -> str:
    if len(token) >= 2 and token[0] == token[-1] == '"':
        return re.sub(r"\\(.)", r"\1", token[1:-1])
    return token


def _field(text: str, position: int) -> tuple[Field, int]:
    """A field at `position`: a name and its JSON arrows; returns the field and the position after it."""
    match = _NAME.match(text, position)
    if match is None:
        raise GrammarError(f"expected a column name at {text[position : position + 20]!r}")
    column, position = _unquote(match.group()), match.end()
    path: list[tuple[Arrow, str]] = []
    while text.startswith("->", position):
        arrow: Arrow = "->>" if text.startswith("->>", position) else "->"
        position += len(arrow)
        key = _KEY.match(text, position)
        if key is None:
            raise GrammarError(f"expected a JSON key after {arrow!r} in {text!r}")
        path.append((arrow, _unquote(key.group())))
        position = key.end()
    if len(path) > MAX_DEPTH:
        raise GrammarError(f"at most {MAX_DEPTH} JSON arrows per field")
    return Field(column, tuple(path)), position


def parse_field(text: str) -> Field:
    parsed, end = _field(text, 0)
    if end != len(text):
        raise GrammarError(f"unexpected {text[end:]!r} after the field {text[:end]!r}")
    return parsed


def parse_names(name: str, text: str) -> tuple[str, ...]:
    """`a,b` or `"a","b"` (postgrest-py quotes `columns`)."""
    names = []
    for part in _split(text, ","):
        token = part.strip()
        if not token or _NAME.fullmatch(token) is None:
            raise GrammarError(f"'{name}' must be a comma-separated list of column names")
        names.append(_unquote(token))
    if not names or len(names) > MAX_ITEMS:
        raise GrammarError(f"'{name}' must name 1 to {MAX_ITEMS} columns")
    return tuple(names)


# --- select and order --------------------------------------------------------------------------------------


def parse_select(text: str) -> tuple[SelectItem, ...]:
    items = []
    for part in _split(text, ","):
        token = part.strip()
        if not token:
            raise GrammarError("'select' has an empty item")
        if token == "*":
            items.append(SelectItem(Field("*")))
            continue
        if "(" in token or ")" in token:
            raise GrammarError(f"'select={token}': embedding and aggregates are not supported")
        alias = None
        head, colon, rest = token.partition(":")
        if colon and not rest.startswith(":") and not head.startswith('"'):
            if _ALIAS.fullmatch(head) is None:
                raise GrammarError(f"'select': invalid alias {head!r}")
            alias, token = head, rest
        token, _, cast = token.partition("::")
        if cast and cast not in CASTS:
            raise GrammarError(f"'select': cast to {cast!r} is not supported; use one of {sorted(CASTS)}")
        items.append(SelectItem(parse_field(token), alias, CASTS[cast] if cast else None))
    if len(items) > MAX_ITEMS:
        raise GrammarError(f"'select' takes at most {MAX_ITEMS} items")
    return tuple(items)


def parse_order(text: str) -> tuple[OrderItem, ...]:
    items = []
    for part in _split(text, ","):
        token = part.strip()
        parsed, position = _field(token, 0)
        descending, nulls = False, None
        for modifier in filter(None, token[position:].split(".")):
            if modifier in {"asc", "desc"}:
                descending = modifier == "desc"
            elif modifier in {"nullsfirst", "nullslast"}:
                nulls = "first" if modifier == "nullsfirst" else "last"
            else:
                raise GrammarError(f"'order': unknown modifier {modifier!r} (asc, desc, nullsfirst, nullslast)")
        items.append(OrderItem(parsed, descending, nulls))  # type: ignore[arg-type]
    if not items or len(items) > MAX_ITEMS:
        raise GrammarError(f"'order' takes 1 to {MAX_ITEMS} items")
    return tuple(items)


# --- filters -----------------------------------------------------------------------------------------------

_OPERATOR = re.compile(r"^(?P<op>[a-z]+)(?:\((?P<modifier>[a-z_]+)\))?$")


def parse_filter(key: str, value: str) -> Condition:
    """`key=value` with value `[not.]op[(any|all|language)].operand`."""
    return _condition(parse_field(key), value, quoted_values=False)


def _condition(parsed: Field, text: str, *, quoted_values: bool) -> Condition:
    negated = text.startswith("not.")
    if negated:
        text = text[4:]
    head, dot, operand = text.partition(".")
    match = _OPERATOR.fullmatch(head)
    if not dot or match is None or match["op"] not in OPERATORS:
        raise GrammarError(
            f"filter on {parsed.column!r}: expected 'operator.value' with one of {sorted(OPERATORS)}, got {text!r}"
        )
    operator, modifier = match["op"], match["modifier"]
    quantifier: Quantifier | None = None
    language = None
    if modifier is not None:
        if operator in QUANTIFIABLE and modifier in {"any", "all"}:
            quantifier = "any" if modifier == "any" else "all"
        elif operator in TEXT_SEARCH and _LANGUAGE.fullmatch(modifier):
            language = modifier
        else:
            raise GrammarError(f"operator {operator!r} does not take ({modifier})")
    value: str | tuple[str, ...]
    if operator == "in":
        value = _list(operand)
    elif operator == "is":
        if operand not in IS_VALUES:
            raise GrammarError(f"'is' takes one of {sorted(IS_VALUES)}")
        value = operand
    else:
        value = _unquote(operand) if quoted_values else operand
        if quantifier is not None and not (value.startswith("{") and value.endswith("}")):
            raise GrammarError(f"{operator}({quantifier}) takes an array literal: {{a,b}}")
    return Condition(parsed, operator, value, negated, quantifier, language)


def _list(operand: str) -> tuple[str, ...]:
    if not (operand.startswith("(") and operand.endswith(")")):
        raise GrammarError("'in' takes a parenthesized list: in.(a,b)")
    inner = operand[1:-1]
    if not inner:
        return ()
    values = tuple(_unquote(part) for part in _split(inner, ","))
    if len(values) > 1000:
        raise GrammarError("'in' takes at most 1000 values")
    return values


def _logic_group(operator: str, text: str, negated: bool, depth: int) -> Logic:
    if depth > MAX_DEPTH:
        raise GrammarError(f"logic trees nest at most {MAX_DEPTH} deep")
    if not (text.startswith("(") and text.endswith(")")) or len(text) < 3:
        raise GrammarError(f"'{operator}' takes a parenthesized list of conditions: {operator}=(a.eq.1,b.gt.2)")
    children: list[Condition | Logic] = []
    for part in _split(text[1:-1], ","):
        item = part.strip()
        nested = re.match(r"^(not\.)?(and|or)\(", item)
        if nested:
            children.append(_logic_group(nested[2], item[len(nested[0]) - 1 :], bool(nested[1]), depth + 1))
            continue
        parsed, position = _field(item, 0)
        if not item.startswith(".", position):
            raise GrammarError(f"'{operator}': expected 'column.operator.value', got {item!r}")
        children.append(_condition(parsed, item[position + 1 :], quoted_values=True))
    if len(children) > MAX_ITEMS:
        raise GrammarError(f"'{operator}' takes at most {MAX_ITEMS} conditions")
    return Logic("and" if operator == "and" else "or", tuple(children), negated)


def _split(text: str, separator: str) -> list[str]:
    """Split on `separator` outside double quotes, parentheses and braces."""
    parts: list[str] = []
    current: list[str] = []
    depth, quoted, escaped = 0, False, False
    for char in text:
        if escaped:
            escaped = False
        elif char == "\\" and quoted:
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif not quoted and char in "({":
            depth += 1
        elif not quoted and char in ")}":
            depth -= 1
            if depth < 0:
                raise GrammarError(f"unbalanced parentheses in {text!r}")
        elif char == separator and depth == 0 and not quoted:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    if quoted or depth != 0:
        raise GrammarError(f"unbalanced quotes or parentheses in {text!r}")
    parts.append("".join(current))
    return parts
