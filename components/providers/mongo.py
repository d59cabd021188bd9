"""MongoDB databases and users (per tenant/workspace), managed through pymongo against any MongoDB-wire server."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, Resource, UpdateResult
from pymongo import MongoClient
from pymongo.errors import OperationFailure
from pymongo.saslprep import saslprep

from components.connections import MongoConnection
from components.providers.base import (
    Provider,
    diff_properties,
    resource_props,
    secret_options,
)

# Database names: a portable subset of what the server allows (no '.', '/', '$', spaces; < 64 bytes).
_DATABASE = re.compile(r"^[A-Za-z0-9_-]{1,63}$")
_SYSTEM_DATABASES = {"admin", "local", "config"}
_COLLECTION = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,119}$")
_USERNAME = re.compile(r"^[A-Za-z0-9_.@-]{1,128}$")
_ROLE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
_USER_NOT_FOUND = 11
_USER_EXISTS = 51003
_SCRAM = "SCRAM-SHA-256"


def _validated_database(value: str, *, allow_system: bool = False) -> str:
    if not _DATABASE.fullmatch(value):
        raise ValueError(f"invalid database name {value!r}: letters, digits, '_', '-' (at most 63)")
    if value in _SYSTEM_DATABASES and not allow_system:
        raise ValueError(f"database {value!r} belongs to the server")
    return value


def _validated(pattern: re.Pattern[str], value: str, what: str) -> str:
    if not pattern.fullmatch(value):
        raise ValueError(f"invalid {what} {value!r}")
    return value


@contextmanager
def _connect(props: dict[str, Any]) -> Iterator[MongoClient[dict[str, Any]]]:
    client: MongoClient[dict[str, Any]] = MongoClient(
        props["connection"]["uri"], serverSelectionTimeoutMS=15000, appname="falcone-provisioner"
    )
    try:
        yield client
    finally:
        client.close()


# --- databases ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DatabaseArgs:
    name: str
    # A database exists only while it holds data: one marker document keeps an empty workspace database listed.
    marker_collection: str = "_falcone"
    # Destroying the resource drops the database and every collection in it; False leaves the data behind.
    drop_on_delete: bool = True


def _write_marker(client: MongoClient[dict[str, Any]], database: str, collection: str) -> None:
    client[database][collection].replace_one(
        {"_id": "falcone"}, {"_id": "falcone", "managed_by": "falcone", "database": database}, upsert=True
    )


class DatabaseProvider(Provider):
    def create(self, props: dict[str, Any]) -> CreateResult:
        name = _validated_database(props["name"])
        collection = _validated(_COLLECTION, props["marker_collection"], "marker collection")
        with _connect(props) as client:
            # An upsert: a database left by an interrupted run (base.py) keeps its data and gets the marker.
            _write_marker(client, name, collection)
        return CreateResult(id_=name, outs=props)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        with _connect(props) as client:
            if id_ not in client.list_database_names():
                return ReadResult(id_="", outs={})
        return ReadResult(id_=id_, outs={**props, "name": id_})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        return diff_properties(olds, news, updatable=["marker_collection", "drop_on_delete"], replace_on=["name"])

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        collection = _validated(_COLLECTION, news["marker_collection"], "marker collection")
        with _connect(news) as client:
            _write_marker(client, id_, collection)
            previous = olds.get("marker_collection")
            if previous and previous != collection:
                client[id_].drop_collection(_validated(_COLLECTION, previous, "marker collection"))
        return UpdateResult(outs=news)

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        if not props.get("drop_on_delete", True):
            return
        with _connect(props) as client:
            client.drop_database(_validated_database(id_))  # dropping a missing database is a no-op


class MongoDatabase(Resource):
    """A tenant/workspace database. Users are separate resources: dropDatabase does not remove them."""

    name: pulumi.Output[str]
    drop_on_delete: pulumi.Output[bool]

    def __init__(
        self,
        resource_name: str,
        args: DatabaseArgs,
        connection: pulumi.Input[MongoConnection],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        _validated_database(args.name)
        _validated(_COLLECTION, args.marker_collection, "marker collection")
        props = resource_props(args, connection)
        super().__init__(DatabaseProvider(), resource_name, props, secret_options(opts))


# --- users --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RoleGrant:
    role: str
    db: str


@dataclass(frozen=True)
class UserArgs:
    username: str
    password: pulumi.Input[str]
    # Where the user is defined (its authSource): usually the workspace database itself.
    database: str
    roles: list[RoleGrant] = field(default_factory=list)


def _roles(props: dict[str, Any]) -> list[dict[str, str]]:
    roles = []
    for grant in props.get("roles") or []:
        role = _validated(_ROLE, str(grant["role"]), "role name")
        db = _validated_database(str(grant["db"]), allow_system=True)
        roles.append({"role": role, "db": db})
    return roles


def _role_set(roles: Sequence[Any] | None) -> frozenset[tuple[str, str]]:
    return frozenset((str(grant["role"]), str(grant["db"])) for grant in roles or [])


def _password_matches(password: str, credentials: dict[str, Any]) -> bool:
    # SCRAM-SHA-256 (RFC 7677): StoredKey = H(HMAC(SaltedPassword, "Client Key")); no login needed to compare.
    salted = hashlib.pbkdf2_hmac(
        "sha256", saslprep(password).encode(), base64.b64decode(credentials["salt"]), int(credentials["iterationCount"])
    )
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = base64.b64encode(hashlib.sha256(client_key).digest()).decode()
    return hmac.compare_digest(stored_key, str(credentials["storedKey"]))


class UserProvider(Provider):
    def create(self, props: dict[str, Any]) -> CreateResult:
        username = _validated(_USERNAME, props["username"], "username")
        database = _validated_database(props["database"])
        with _connect(props) as client:
            try:
                client[database].command(
                    "createUser", username, pwd=props["password"], roles=_roles(props), mechanisms=[_SCRAM]
                )
            except OperationFailure as error:
                if error.code != _USER_EXISTS:
                    raise
                return self.adopt(f"{database}.{username}", props)  # password and roles set as declared
        return CreateResult(id_=f"{database}.{username}", outs=props)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        username, database = props["username"], props["database"]
        with _connect(props) as client:
            users = client[database].command("usersInfo", {"user": username, "db": database}, showCredentials=True)[
                "users"
            ]
        if not users:
            return ReadResult(id_="", outs={})
        user = users[0]
        live_roles = [{"role": grant["role"], "db": grant["db"]} for grant in user.get("roles") or []]
        # Same grants in another order: keep the declared order so refresh shows no change.
        roles = props.get("roles") if _role_set(live_roles) == _role_set(props.get("roles")) else live_roles
        password = props.get("password")
        credentials = (user.get("credentials") or {}).get(_SCRAM)
        if password and credentials and not _password_matches(password, credentials):
            password = None  # reset out of band: the declared password no longer logs in
        return ReadResult(id_=id_, outs={**props, "roles": roles, "password": password})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        olds = {**olds, "roles": sorted(_role_set(olds.get("roles")))}
        news = {**news, "roles": sorted(_role_set(news.get("roles")))}
        return diff_properties(olds, news, updatable=["password", "roles"], replace_on=["username", "database"])

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        changes: dict[str, Any] = {"roles": _roles(news)}
        if olds.get("password") != news["password"]:
            changes["pwd"] = news["password"]
        with _connect(news) as client:
            client[_validated_database(news["database"])].command(
                "updateUser", _validated(_USERNAME, news["username"], "username"), **changes
            )
        return UpdateResult(outs=news)

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        with _connect(props) as client:
            try:
                client[_validated_database(props["database"])].command(
                    "dropUser", _validated(_USERNAME, props["username"], "username")
                )
            except OperationFailure as error:
                if error.code != _USER_NOT_FOUND:
                    raise


class MongoUser(Resource):
    """A SCRAM-SHA-256 user defined in `database`, holding exactly `roles` (e.g. readWrite on its own database)."""

    username: pulumi.Output[str]
    database: pulumi.Output[str]
    roles: pulumi.Output[list[dict[str, str]]]

    def __init__(
        self,
        resource_name: str,
        args: UserArgs,
        connection: pulumi.Input[MongoConnection],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        _validated(_USERNAME, args.username, "username")
        _validated_database(args.database)
        roles = [asdict(grant) for grant in args.roles]
        _roles({"roles": roles})
        props = resource_props(args, connection, roles=roles)
        super().__init__(UserProvider(), resource_name, props, secret_options(opts))
