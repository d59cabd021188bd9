"""The route catalogue (falcone/catalog/routes.toml) is the one list of public routes: every route both services
serve is covered by an entry of the right service (or is internal), every entry covers something, and the lookup
picks the most specific entry."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, APIWebSocketRoute

from automation.app import create_app as automation_app
from executor.app import create_app as executor_app
from falcone.routes import Domain, catalog

SAMPLE = {"tenant": "acme", "workspace": "prod", "name": "todos", "bucket": "b", "key": "a/b.txt", "topic": "events"}


def _walk(routes: list[Any], prefix: str = "") -> list[tuple[str, str]]:
    """(method, path template) of every route, through included routers (FastAPI keeps them as wrappers)."""
    served: list[tuple[str, str]] = []
    for route in routes:
        original = getattr(route, "original_router", None)
        if original is not None:
            served += _walk(original.routes, prefix + route.include_context.prefix)
        elif isinstance(route, APIWebSocketRoute):
            served.append(("GET", prefix + route.path))  # a WebSocket starts as a GET upgrade
        elif isinstance(route, APIRoute) or hasattr(route, "methods"):
            served += [(method, prefix + route.path) for method in sorted(route.methods or ())]
    return served


def _sample_path(template: str) -> str:
    path = template.replace("{key:path}", SAMPLE["key"])
    for name, value in SAMPLE.items():
        path = path.replace("{" + name + "}", value)
    return path.replace("{", "").replace("}", "")  # any other parameter: its name as the value


SERVICES: dict[str, FastAPI] = {"automation": automation_app(), "executor": executor_app()}


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_every_route_a_service_serves_is_in_the_catalogue(service: str) -> None:
    routes = catalog()
    missing, misplaced = [], []
    for method, template in _walk(SERVICES[service].routes):
        if routes.is_internal(template):
            continue
        entry = routes.route(method, _sample_path(template))
        if entry is None:
            missing.append(f"{method} {template}")
        elif entry.service != service:
            misplaced.append(f"{method} {template} → {entry.service}")
    assert not missing, f"routes the catalogue does not list: {missing}"
    assert not misplaced, f"routes the catalogue gives to the other service: {misplaced}"


def test_every_catalogue_entry_covers_a_served_route() -> None:
    served = {
        (service, method, _sample_path(template))
        for service, app in SERVICES.items()
        for method, template in _walk(app.routes)
    }
    routes = catalog()
    for entry in routes.routes:
        assert any(
            service == entry.service and routes.route(method, path) == entry for service, method, path in served
        ), f"stale catalogue entry: {entry.prefix} {entry.methods}"


def test_domains_follow_the_services() -> None:
    for entry in catalog().routes:
        expected = Domain.STRUCTURAL_ADMIN if entry.service == "automation" else Domain.DATA_ACCESS
        assert entry.domain == expected, entry.prefix


def test_the_most_specific_entry_wins() -> None:
    routes = catalog()
    workspace = routes.route("POST", "/v1/tenants/acme/workspaces/prod/api-keys")
    tenant = routes.route("POST", "/v1/tenants/acme/suspend")
    listing = routes.route("GET", "/v1/tenants/acme/workspaces")
    assert workspace is not None
    assert tenant is not None
    assert listing is not None
    assert workspace.prefix == "/v1/tenants/{tenant}/workspaces"
    assert (tenant.prefix, tenant.profile) == ("/v1/tenants", "provisioning")
    assert listing.profile == "workspace_control"
    assert routes.route("GET", "/v1/tenantsx") is None
    assert routes.route("GET", "/etc/passwd") is None
    assert routes.profile(workspace).per_minute == 120
