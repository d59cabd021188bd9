"""Keycloak realms, realm roles, client scopes (with protocol mappers) and clients, through the admin REST API.

Every tenant gets a realm; its clients and client scopes put `tenant_id` / `workspace_id` / `plan_id` claims in
the tokens Falcone's data plane trusts. The provider talks to Keycloak's admin API with an admin token obtained by
a password grant on the connection's admin realm (client `admin-cli`), renewed when it expires.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx2
import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, Resource, UpdateResult

from components.connections import KeycloakConnection
from components.providers.base import Provider, diff_properties, resource_props, secret_options

# Realm, role, client-scope and client names: they end up in URL paths, so only this shape is accepted.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}")
_MAPPER_TYPE = re.compile(r"[a-z0-9][a-z0-9-]{0,99}")
CLIENT_KINDS = ("public", "confidential", "bearer-only")


class KeycloakError(RuntimeError):
    """The admin API refused a request; the message carries the method, path, status and Keycloak's reason."""


class KeycloakConflictError(KeycloakError):
    """HTTP 409: an object of that name (realm, role, client scope, client id) already exists."""


def _check_name(value: str, what: str) -> str:
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise ValueError(f"invalid Keycloak {what} {value!r}: expected {_NAME.pattern}")
    return value


def _seg(value: str, what: str = "name") -> str:
    """One URL path segment built from a name or a server id: validated, then percent-encoded."""
    return quote(_check_name(value, what), safe="")


# --- the admin API --------------------------------------------------------------------------------------------


class _Admin:
    """A small synchronous client of the admin API; one per connection, shared by the provider process."""

    def __init__(self, connection: dict[str, str]) -> None:
        self._connection = connection
        self._http = httpx2.Client(base_url=connection["url"].rstrip("/"), timeout=30.0)
        self._lock = threading.Lock()
        self._token = ""
        self._refresh_token = ""
        self._expires_at = 0.0
        self._refresh_expires_at = 0.0

    def _login(self) -> None:
        realm = _seg(self._connection.get("admin_realm") or "master", "admin realm")
        grant: dict[str, str] = {"client_id": self._connection.get("admin_client_id") or "admin-cli"}
        if self._refresh_token and time.monotonic() < self._refresh_expires_at:
            grant |= {"grant_type": "refresh_token", "refresh_token": self._refresh_token}
        else:
            grant |= {
                "grant_type": "password",
                "username": self._connection["admin_user"],
                "password": self._connection["admin_password"],
            }
        response = self._http.post(f"/realms/{realm}/protocol/openid-connect/token", data=grant)
        if response.status_code != 200 and grant["grant_type"] == "refresh_token":
            self._refresh_token = ""  # the session ended server-side: log in again with the password
            return self._login()
        if response.status_code != 200:
            raise KeycloakError(f"admin login on realm {realm!r} failed: HTTP {response.status_code}")
        body = response.json()
        now = time.monotonic()
        # Renew a little before the server expires it, so a request never leaves with a dying token.
        self._token = body["access_token"]
        self._expires_at = now + max(0, int(body.get("expires_in", 60)) - 10)
        self._refresh_token = body.get("refresh_token", "")
        self._refresh_expires_at = now + max(0, int(body.get("refresh_expires_in", 0)) - 10)

    def _bearer(self, *, renew: bool = False) -> str:
        with self._lock:
            if renew or not self._token or time.monotonic() >= self._expires_at:
                self._login()
            return self._token

    def request(self, method: str, path: str, *, body: Any = None, missing_ok: bool = False) -> httpx2.Response | None:
        """`path` is below /admin/realms; None when the object is absent and missing_ok."""
        response = None
        for renew in (False, True):  # a token revoked early (server restart) gets one fresh login
            headers = {"Authorization": f"Bearer {self._bearer(renew=renew)}"}
            response = self._http.request(method, f"/admin/realms{path}", json=body, headers=headers)
            if response.status_code != 401:
                break
        assert response is not None
        if response.status_code == 404 and missing_ok:
            return None
        if response.status_code >= 400:
            error = KeycloakConflictError if response.status_code == 409 else KeycloakError
            raise error(f"{method} /admin/realms{path}: HTTP {response.status_code} {response.text[:300]}")
        return response

    def get(self, path: str) -> Any:
        """The JSON body, or None when the object does not exist."""
        response = self.request("GET", path, missing_ok=True)
        return None if response is None else response.json()

    def create(self, path: str, body: Any) -> str:
        """POST a new object; returns its server id (the last segment of the Location header)."""
        response = self.request("POST", path, body=body)
        assert response is not None
        return str(response.headers.get("location", "")).rstrip("/").rsplit("/", 1)[-1]

    def put(self, path: str, body: Any = None) -> None:
        self.request("PUT", path, body=body)

    def delete(self, path: str, body: Any = None) -> None:
        self.request("DELETE", path, body=body, missing_ok=True)


_admins: dict[tuple[tuple[str, str], ...], _Admin] = {}
_admins_lock = threading.Lock()


def _admin(props: dict[str, Any]) -> _Admin:
    connection = {key: str(value) for key, value in props["connection"].items() if value is not None}
    key = tuple(sorted(connection.items()))
    with _admins_lock:
        if key not in _admins:
            _admins[key] = _Admin(connection)
        return _admins[key]


# --- realms ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RealmArgs:
    name: str
    display_name: str = ""
    enabled: bool = True
    brute_force_protected: bool = True
    failure_factor: int = 30
    access_token_lifespan: int = 300
    sso_session_idle_timeout: int = 1800
    sso_session_max_lifespan: int = 36000
    login_with_email_allowed: bool = True
    registration_allowed: bool = False
    password_policy: str = "length(12) and notUsername"

    def __post_init__(self) -> None:
        _check_name(self.name, "realm name")


# Our property -> the realm representation's field.
_REALM_FIELDS = {
    "display_name": "displayName",
    "enabled": "enabled",
    "brute_force_protected": "bruteForceProtected",
    "failure_factor": "failureFactor",
    "access_token_lifespan": "accessTokenLifespan",
    "sso_session_idle_timeout": "ssoSessionIdleTimeout",
    "sso_session_max_lifespan": "ssoSessionMaxLifespan",
    "login_with_email_allowed": "loginWithEmailAllowed",
    "registration_allowed": "registrationAllowed",
    "password_policy": "passwordPolicy",
}
_REALM_TEXT = ("display_name", "password_policy")  # Keycloak drops empty strings: absent reads back as ""


def _realm_body(props: dict[str, Any]) -> dict[str, Any]:
    return {"realm": props["name"], **{api: props.get(key) for key, api in _REALM_FIELDS.items()}}


class RealmProvider(Provider):
    def create(self, props: dict[str, Any]) -> CreateResult:
        try:
            _admin(props).create("", _realm_body(props))
        except KeycloakConflictError:
            return self.adopt(props["name"], props)  # settings as declared; its contents are separate resources
        return CreateResult(id_=props["name"], outs=props)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        realm = _admin(props).get(f"/{_seg(id_)}")
        if realm is None:
            return ReadResult(id_="", outs={})
        live = {key: realm.get(api) for key, api in _REALM_FIELDS.items()}
        live |= {key: live[key] or "" for key in _REALM_TEXT}
        return ReadResult(id_=id_, outs={**props, **live, "name": realm["realm"]})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        return diff_properties(olds, news, updatable=list(_REALM_FIELDS), replace_on=["name"])

    def update(self, id_: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        _admin(news).put(f"/{_seg(id_)}", _realm_body(news))
        return UpdateResult(outs=news)

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        _admin(props).delete(f"/{_seg(id_)}")


class KeycloakRealm(Resource):
    """A tenant's realm. Renaming replaces it (and everything in it)."""

    name: pulumi.Output[str]

    def __init__(
        self,
        resource_name: str,
        args: RealmArgs,
        connection: pulumi.Input[KeycloakConnection],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props = resource_props(args, connection)
        super().__init__(RealmProvider(), resource_name, props, secret_options(opts))


# --- realm roles ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RealmRoleArgs:
    realm: str
    name: str
    description: str = ""

    def __post_init__(self) -> None:
        _check_name(self.realm, "realm name")
        _check_name(self.name, "role name")


class RealmRoleProvider(Provider):
    def create(self, props: dict[str, Any]) -> CreateResult:
        realm, name = props["realm"], props["name"]
        try:
            _admin(props).create(f"/{_seg(realm)}/roles", {"name": name, "description": props.get("description", "")})
        except KeycloakConflictError:
            return self.adopt(f"{realm}/{name}", props)
        return CreateResult(id_=f"{realm}/{name}", outs=props)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        role = _admin(props).get(f"/{_seg(props['realm'])}/roles/{_seg(props['name'])}")
        if role is None:
            return ReadResult(id_="", outs={})
        return ReadResult(id_=id_, outs={**props, "name": role["name"], "description": role.get("description") or ""})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        return diff_properties(olds, news, updatable=["description"], replace_on=["realm", "name"])

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        path = f"/{_seg(news['realm'])}/roles/{_seg(news['name'])}"
        _admin(news).put(path, {"name": news["name"], "description": news.get("description", "")})
        return UpdateResult(outs=news)

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        _admin(props).delete(f"/{_seg(props['realm'])}/roles/{_seg(props['name'])}")


class KeycloakRealmRole(Resource):
    name: pulumi.Output[str]

    def __init__(
        self,
        resource_name: str,
        args: RealmRoleArgs,
        connection: pulumi.Input[KeycloakConnection],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props = resource_props(args, connection)
        super().__init__(RealmRoleProvider(), resource_name, props, secret_options(opts))


# --- client scopes and their protocol mappers -----------------------------------------------------------------

# Where a mapper's claim goes: every token kind, and the introspection answer.
_ALL_TOKENS = {
    "access.token.claim": "true",
    "id.token.claim": "true",
    "userinfo.token.claim": "true",
    "introspection.token.claim": "true",
}


def hardcoded_claim(claim: str, value: str, *, name: str | None = None) -> dict[str, Any]:
    """A fixed claim (tenant_id, workspace_id, plan_id) in every token issued with the scope."""
    config = {"claim.name": claim, "claim.value": value, "jsonType.label": "String", **_ALL_TOKENS}
    return {"name": name or claim, "protocol_mapper": "oidc-hardcoded-claim-mapper", "config": config}


def user_attribute_claim(attribute: str, claim: str, *, name: str | None = None) -> dict[str, Any]:
    """A user attribute copied into a claim."""
    config = {"user.attribute": attribute, "claim.name": claim, "jsonType.label": "String", **_ALL_TOKENS}
    return {"name": name or claim, "protocol_mapper": "oidc-usermodel-attribute-mapper", "config": config}


def realm_roles_claim(claim: str = "roles", *, name: str | None = None) -> dict[str, Any]:
    """The user's (or service account's) realm roles as a multivalued claim."""
    config = {"claim.name": claim, "jsonType.label": "String", "multivalued": "true", **_ALL_TOKENS}
    return {"name": name or claim, "protocol_mapper": "oidc-usermodel-realm-role-mapper", "config": config}


def _mapper(value: dict[str, Any]) -> dict[str, Any]:
    """The mapper's declared shape; Keycloak stores config as a map of strings."""
    if not isinstance(value.get("name"), str) or not value["name"]:
        raise ValueError(f"protocol mapper without a name: {value!r}")
    if not _MAPPER_TYPE.fullmatch(str(value.get("protocol_mapper", ""))):
        raise ValueError(f"invalid protocol_mapper {value.get('protocol_mapper')!r} in mapper {value['name']!r}")
    config = value.get("config") or {}
    if not all(isinstance(item, str) for item in config.values()):
        raise ValueError(f"protocol mapper {value['name']!r}: config values must be strings")
    return {"name": value["name"], "protocol_mapper": value["protocol_mapper"], "config": dict(config)}


@dataclass(frozen=True)
class ClientScopeArgs:
    realm: str
    name: str
    description: str = ""
    protocol: str = "openid-connect"
    include_in_token_scope: bool = True
    protocol_mappers: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        _check_name(self.realm, "realm name")
        _check_name(self.name, "client scope name")
        names = [_mapper(mapper)["name"] for mapper in self.protocol_mappers]
        if len(names) != len(set(names)):
            raise ValueError(f"client scope {self.name!r}: protocol mapper names must be unique")


def _scope_body(props: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": props["name"],
        "description": props.get("description", ""),
        "protocol": props.get("protocol") or "openid-connect",
        "attributes": {"include.in.token.scope": "true" if props.get("include_in_token_scope", True) else "false"},
    }


def _live_mappers(live: list[dict[str, Any]], declared: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The server's mappers in our shape, in the declared order (extras last), so order never reads as drift."""
    order = {mapper["name"]: index for index, mapper in enumerate(declared)}
    mappers = [
        {"name": m["name"], "protocol_mapper": m["protocolMapper"], "config": dict(m.get("config") or {})} for m in live
    ]
    return sorted(mappers, key=lambda m: (order.get(m["name"], len(order)), m["name"]))


def _sync_mappers(admin: _Admin, realm: str, scope_id: str, protocol: str, wanted: list[dict[str, Any]]) -> None:
    base = f"/{_seg(realm)}/client-scopes/{_seg(scope_id, 'id')}/protocol-mappers/models"
    live = {mapper["name"]: mapper for mapper in admin.get(base) or []}
    wanted_by_name = {mapper["name"]: _mapper(mapper) for mapper in wanted}
    for name, mapper in live.items():
        goal = wanted_by_name.get(name)
        if goal is None or goal["protocol_mapper"] != mapper["protocolMapper"]:
            admin.delete(f"{base}/{_seg(mapper['id'], 'id')}")
    for name, goal in wanted_by_name.items():
        body = {"name": name, "protocol": protocol, "protocolMapper": goal["protocol_mapper"], "config": goal["config"]}
        current = live.get(name)
        if current is None or current["protocolMapper"] != goal["protocol_mapper"]:
            admin.create(base, body)
        elif (current.get("config") or {}) != goal["config"]:
            admin.put(f"{base}/{_seg(current['id'], 'id')}", {**body, "id": current["id"]})


class ClientScopeProvider(Provider):
    def create(self, props: dict[str, Any]) -> CreateResult:
        admin, realm = _admin(props), props["realm"]
        try:
            scope_id = admin.create(f"/{_seg(realm)}/client-scopes", _scope_body(props))
        except KeycloakConflictError:
            # Its id is the server's: found by name (unique in a realm), then body and mappers as declared.
            scopes = admin.get(f"/{_seg(realm)}/client-scopes") or []
            [scope_id] = [scope["id"] for scope in scopes if scope["name"] == props["name"]]
            return self.adopt(scope_id, props)
        try:
            _sync_mappers(admin, realm, scope_id, _scope_body(props)["protocol"], props.get("protocol_mappers") or [])
        except Exception:
            admin.delete(f"/{_seg(realm)}/client-scopes/{_seg(scope_id, 'id')}")  # leave nothing Pulumi can't see
            raise
        return CreateResult(id_=scope_id, outs=props)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        scope = _admin(props).get(f"/{_seg(props['realm'])}/client-scopes/{_seg(id_, 'id')}")
        if scope is None:
            return ReadResult(id_="", outs={})
        attributes = scope.get("attributes") or {}
        live = {
            "name": scope["name"],
            "description": scope.get("description") or "",
            "protocol": scope.get("protocol"),
            # Keycloak's own rule: an absent attribute means "include".
            "include_in_token_scope": attributes.get("include.in.token.scope", "true") == "true",
            "protocol_mappers": _live_mappers(scope.get("protocolMappers") or [], props.get("protocol_mappers") or []),
        }
        return ReadResult(id_=id_, outs={**props, **live})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        return diff_properties(
            olds,
            news,
            updatable=["name", "description", "include_in_token_scope", "protocol_mappers"],
            replace_on=["realm", "protocol"],
        )

    def update(self, id_: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        admin, realm, body = _admin(news), news["realm"], _scope_body(news)
        admin.put(f"/{_seg(realm)}/client-scopes/{_seg(id_, 'id')}", {**body, "id": id_})
        _sync_mappers(admin, realm, id_, body["protocol"], news.get("protocol_mappers") or [])
        return UpdateResult(outs=news)

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        _admin(props).delete(f"/{_seg(props['realm'])}/client-scopes/{_seg(id_, 'id')}")


class KeycloakClientScope(Resource):
    """A client scope and exactly the protocol mappers declared (others are removed)."""

    name: pulumi.Output[str]

    def __init__(
        self,
        resource_name: str,
        args: ClientScopeArgs,
        connection: pulumi.Input[KeycloakConnection],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        mappers = [_mapper(mapper) for mapper in args.protocol_mappers]
        props = resource_props(args, connection, protocol_mappers=mappers)
        super().__init__(ClientScopeProvider(), resource_name, props, secret_options(opts))


# --- clients --------------------------------------------------------------------------------------------------

_PKCE = "pkce.code.challenge.method"
_LIFESPAN = "access.token.lifespan"


@dataclass(frozen=True)
class ClientArgs:
    realm: str
    client_id: str
    name: str = ""
    kind: str = "confidential"  # one of CLIENT_KINDS
    standard_flow_enabled: bool = True
    pkce: bool = True  # S256 code challenge required on the authorization-code flow
    direct_access_grants_enabled: bool = False
    service_accounts_enabled: bool = False
    redirect_uris: list[str] = field(default_factory=list)
    web_origins: list[str] = field(default_factory=list)
    # Exactly these default client scopes (names); None leaves the realm's defaults alone and unmanaged.
    default_client_scopes: list[str] | None = None
    access_token_lifespan: int | None = None  # None: the realm's lifespan
    # Realm roles of the service account (besides the realm's default-roles composite, which is left alone).
    service_account_realm_roles: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        _check_name(self.realm, "realm name")
        _check_name(self.client_id, "client id")
        if self.kind not in CLIENT_KINDS:
            raise ValueError(f"client {self.client_id!r}: kind must be one of {', '.join(CLIENT_KINDS)}")
        if self.service_accounts_enabled and self.kind != "confidential":
            raise ValueError(f"client {self.client_id!r}: only a confidential client can have a service account")
        if self.service_account_realm_roles and not self.service_accounts_enabled:
            raise ValueError(f"client {self.client_id!r}: service_account_realm_roles needs service_accounts_enabled")
        for name in [*(self.default_client_scopes or []), *self.service_account_realm_roles]:
            _check_name(name, "client scope or role name")


def _client_body(props: dict[str, Any], current: dict[str, Any] | None = None) -> dict[str, Any]:
    """The server's representation (when updating) with every managed field overlaid."""
    kind = props.get("kind") or "confidential"
    lifespan = props.get("access_token_lifespan")
    attributes = {
        **((current or {}).get("attributes") or {}),
        # Keycloak removes an attribute set to "".
        _PKCE: "S256" if props.get("pkce") else "",
        _LIFESPAN: "" if lifespan is None else str(int(lifespan)),
    }
    return {
        **(current or {}),
        "clientId": props["client_id"],
        "name": props.get("name") or "",
        "protocol": "openid-connect",
        "enabled": True,
        "publicClient": kind == "public",
        "bearerOnly": kind == "bearer-only",
        "standardFlowEnabled": bool(props.get("standard_flow_enabled")),
        "directAccessGrantsEnabled": bool(props.get("direct_access_grants_enabled")),
        "serviceAccountsEnabled": bool(props.get("service_accounts_enabled")),
        "redirectUris": list(props.get("redirect_uris") or []),
        "webOrigins": list(props.get("web_origins") or []),
        "attributes": attributes,
    }


def _kind(client: dict[str, Any]) -> str:
    if client.get("bearerOnly"):
        return "bearer-only"
    return "public" if client.get("publicClient") else "confidential"


def _client_path(realm: str, client_uuid: str) -> str:
    return f"/{_seg(realm)}/clients/{_seg(client_uuid, 'id')}"


def _sync_default_scopes(admin: _Admin, realm: str, client_uuid: str, wanted: list[str] | None) -> None:
    if wanted is None:
        return
    client = admin.get(_client_path(realm, client_uuid)) or {}
    current = set(client.get("defaultClientScopes") or [])
    optional = set(client.get("optionalClientScopes") or [])
    scope_ids = {scope["name"]: scope["id"] for scope in admin.get(f"/{_seg(realm)}/client-scopes") or []}
    unknown = sorted(set(wanted) - set(scope_ids))
    if unknown:
        raise KeycloakError(f"realm {realm!r} has no client scope named {', '.join(unknown)}")
    base = _client_path(realm, client_uuid)
    for name in sorted(current - set(wanted)):
        admin.delete(f"{base}/default-client-scopes/{_seg(scope_ids[name], 'id')}")
    for name in sorted(set(wanted) - current):
        if name in optional:  # a scope is either default or optional, never both
            admin.delete(f"{base}/optional-client-scopes/{_seg(scope_ids[name], 'id')}")
        admin.put(f"{base}/default-client-scopes/{_seg(scope_ids[name], 'id')}")


def _service_account_roles(admin: _Admin, realm: str, client: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """The service-account user's id and its realm roles, without the realm's default-roles composite."""
    if not client.get("serviceAccountsEnabled"):
        return "", []
    user = admin.get(f"{_client_path(realm, client['id'])}/service-account-user")
    if user is None:
        return "", []
    roles = admin.get(f"/{_seg(realm)}/users/{_seg(user['id'], 'id')}/role-mappings/realm") or []
    return user["id"], [role for role in roles if role["name"] != f"default-roles-{realm}"]


def _sync_service_account_roles(admin: _Admin, realm: str, client_uuid: str, wanted: list[str]) -> None:
    client = admin.get(_client_path(realm, client_uuid)) or {}
    user_id, current = _service_account_roles(admin, realm, client)
    if not user_id:
        if wanted:
            raise KeycloakError(f"client {client.get('clientId')!r} has no service account to give roles to")
        return
    path = f"/{_seg(realm)}/users/{_seg(user_id, 'id')}/role-mappings/realm"
    current_names = {role["name"] for role in current}
    extra = [role for role in current if role["name"] not in wanted]
    if extra:
        admin.delete(path, extra)
    missing = [admin.get(f"/{_seg(realm)}/roles/{_seg(name)}") for name in sorted(set(wanted) - current_names)]
    if None in missing:
        raise KeycloakError(f"realm {realm!r} lacks a role of {sorted(wanted)}")
    if missing:
        admin.create(path, missing)


def _client_secret(admin: _Admin, realm: str, client: dict[str, Any]) -> str | None:
    if _kind(client) != "confidential":
        return None
    secret = admin.get(f"{_client_path(realm, client['id'])}/client-secret") or {}
    value = secret.get("value")
    return str(value) if value else None


def _sync_client(admin: _Admin, client_uuid: str, props: dict[str, Any]) -> str | None:
    """Scopes and service-account roles as declared; returns the (server-generated) secret."""
    realm = props["realm"]
    _sync_default_scopes(admin, realm, client_uuid, props.get("default_client_scopes"))
    _sync_service_account_roles(admin, realm, client_uuid, list(props.get("service_account_realm_roles") or []))
    return _client_secret(admin, realm, admin.get(_client_path(realm, client_uuid)) or {"id": client_uuid})


class ClientProvider(Provider):
    def create(self, props: dict[str, Any]) -> CreateResult:
        admin, realm = _admin(props), props["realm"]
        try:
            client_uuid = admin.create(f"/{_seg(realm)}/clients", _client_body(props))
        except KeycloakConflictError:
            # The server's id and secret are read live; settings, scopes and service-account roles as declared.
            [client] = admin.get(f"/{_seg(realm)}/clients?clientId={_seg(props['client_id'], 'client id')}") or []
            return self.adopt(client["id"], props)
        try:
            secret = _sync_client(admin, client_uuid, props)
        except Exception:
            admin.delete(_client_path(realm, client_uuid))  # leave nothing Pulumi can't see
            raise
        return CreateResult(id_=client_uuid, outs={**props, "client_secret": secret})

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        admin, realm = _admin(props), props["realm"]
        client = admin.get(_client_path(realm, id_))
        if client is None:
            return ReadResult(id_="", outs={})
        attributes = client.get("attributes") or {}
        lifespan = attributes.get(_LIFESPAN)
        managed_scopes = props.get("default_client_scopes") is not None
        live = {
            "client_id": client["clientId"],
            "name": client.get("name") or "",
            "kind": _kind(client),
            "standard_flow_enabled": bool(client.get("standardFlowEnabled")),
            "pkce": attributes.get(_PKCE) == "S256",
            "direct_access_grants_enabled": bool(client.get("directAccessGrantsEnabled")),
            "service_accounts_enabled": bool(client.get("serviceAccountsEnabled")),
            "redirect_uris": list(client.get("redirectUris") or []),
            "web_origins": list(client.get("webOrigins") or []),
            "default_client_scopes": list(client.get("defaultClientScopes") or []) if managed_scopes else None,
            "access_token_lifespan": int(lifespan) if lifespan else None,
            "service_account_realm_roles": sorted(
                role["name"] for role in _service_account_roles(admin, realm, client)[1]
            ),
            "client_secret": _client_secret(admin, realm, client),
        }
        return ReadResult(id_=id_, outs={**props, **live})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        return diff_properties(
            olds,
            news,
            updatable=[
                "name",
                "kind",
                "standard_flow_enabled",
                "pkce",
                "direct_access_grants_enabled",
                "service_accounts_enabled",
                "redirect_uris",
                "web_origins",
                "default_client_scopes",
                "access_token_lifespan",
                "service_account_realm_roles",
            ],
            replace_on=["realm", "client_id"],
        )

    def update(self, id_: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        admin, path = _admin(news), _client_path(news["realm"], id_)
        admin.put(path, _client_body(news, admin.get(path)))
        return UpdateResult(outs={**news, "client_secret": _sync_client(admin, id_, news)})

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        _admin(props).delete(_client_path(props["realm"], id_))


class KeycloakClient(Resource):
    """An OIDC client. Confidential clients output the server-generated `client_secret` (secret in state)."""

    client_id: pulumi.Output[str]
    client_secret: pulumi.Output[str | None]

    def __init__(
        self,
        resource_name: str,
        args: ClientArgs,
        connection: pulumi.Input[KeycloakConnection],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props = resource_props(args, connection, client_secret=None)
        options = pulumi.ResourceOptions.merge(
            secret_options(opts), pulumi.ResourceOptions(additional_secret_outputs=["client_secret"])
        )
        super().__init__(ClientProvider(), resource_name, props, options)
