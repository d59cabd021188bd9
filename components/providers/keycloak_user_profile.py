"""User attributes a realm's user profile declares as administrator-only (Keycloak's declarative user profile).

Since Keycloak 24 a realm drops every user attribute its user profile does not declare (unmanaged attributes are
off by default), so the `tenant_id` / `workspace_id` / `plan_id` attributes the platform realm's context scopes
copy into tokens must be declared. They are declared viewable and editable by administrators only: a user who
could edit their own `tenant_id` (account console) would choose the tenant their tokens name.

The user profile is one document per realm; this resource manages only the attributes it declares and leaves the
others (username, email, …) alone. Its create is an upsert (a declaration replaces any of the same name), so a
create run again after an interrupted `up` adopts what the first run wrote.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, Resource, UpdateResult

from components.connections import KeycloakConnection
from components.providers.base import Provider, diff_properties, resource_props, secret_options
from components.providers.keycloak import _Admin, _admin, _check_name, _seg

ADMIN_ONLY = {"view": ["admin"], "edit": ["admin"]}


@dataclass(frozen=True)
class UserProfileAttributesArgs:
    realm: str
    # Single-valued attributes only administrators can see and set.
    attributes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        _check_name(self.realm, "realm name")
        for name in self.attributes:
            _check_name(name, "user attribute name")


def _declared(name: str) -> dict[str, Any]:
    return {"name": name, "displayName": name, "multivalued": False, "permissions": ADMIN_ONLY}


def _profile_path(realm: str) -> str:
    return f"/{_seg(realm)}/users/profile"


def _write(admin: _Admin, realm: str, remove: set[str], declare: list[str]) -> None:
    """Drop `remove`, then declare `declare` (replacing any existing declaration of the same name)."""
    profile = admin.get(_profile_path(realm))
    if profile is None:
        return
    replaced = remove | set(declare)
    attributes = [attribute for attribute in profile.get("attributes") or [] if attribute["name"] not in replaced]
    admin.put(_profile_path(realm), {**profile, "attributes": [*attributes, *(_declared(n) for n in declare)]})


def _live(admin: _Admin, realm: str, wanted: list[str]) -> list[str] | None:
    """The wanted attributes that are declared as we declare them (admin-only); None when the realm is gone."""
    profile = admin.get(_profile_path(realm))
    if profile is None:
        return None
    live = {attribute["name"]: attribute for attribute in profile.get("attributes") or []}
    return [
        name
        for name in wanted
        if name in live and live[name].get("permissions") == ADMIN_ONLY and not live[name].get("multivalued", False)
    ]


class UserProfileAttributesProvider(Provider):
    def create(self, props: dict[str, Any]) -> CreateResult:
        _write(_admin(props), props["realm"], set(), list(props.get("attributes") or []))
        return CreateResult(id_=props["realm"], outs=props)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        live = _live(_admin(props), props["realm"], list(props.get("attributes") or []))
        if live is None:
            return ReadResult(id_="", outs={})
        # A declaration made user-editable (or removed) out of band reads as missing: drift, repaired by `up`.
        return ReadResult(id_=id_, outs={**props, "attributes": live})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        return diff_properties(olds, news, updatable=["attributes"], replace_on=["realm"])

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        wanted = list(news.get("attributes") or [])
        _write(_admin(news), news["realm"], set(olds.get("attributes") or []) - set(wanted), wanted)
        return UpdateResult(outs=news)

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        _write(_admin(props), props["realm"], set(props.get("attributes") or []), [])


class KeycloakUserProfileAttributes(Resource):
    """Administrator-only user attributes of a realm's user profile."""

    attributes: pulumi.Output[list[str]]

    def __init__(
        self,
        resource_name: str,
        args: UserProfileAttributesArgs,
        connection: pulumi.Input[KeycloakConnection],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props = resource_props(args, connection)
        super().__init__(UserProfileAttributesProvider(), resource_name, props, secret_options(opts))
