"""The gateway's Envoy configuration, rendered from the route catalogue (a pure function of its inputs).

Every catalogue entry becomes a handful of Envoy routes, tried in this order (first match wins, longest prefix
first, like `RouteCatalog.route`):

1. a body whose Content-Length exceeds the entry's limit: 413 before anything reads it;
2. an API key (`apikey` / `x-api-key` header, `Authorization: Bearer flc_…` or `ApiKey …`, an `apikey` query
   parameter): on a data route it goes to the executor, which verifies keys itself; on a structural route it is a
   privilege-domain crossing, refused with 403;
3. anything else is a bearer JWT, verified here against the realm's JWKS (`jwt_authn`), then authorized by its
   claims (`rbac`): structural routes take access tokens of the platform realm issued to a platform API client;
   data routes take access tokens that carry a workspace context, from a realm the tenant registry trusts for
   that tenant (`Trust`), so a realm can never speak for another tenant. A verified data token reaches the
   executor as the gateway's identity headers plus the shared secret, without the token.

A Lua filter in front drops every identity header a client sent (`x-tenant-id`, `x-workspace-id`, `x-pg-role`,
`x-gateway-secret`, any `x-auth-*`) before another filter reads them, and keeps or generates `x-correlation-id`.
Local rate limits give each credential a bucket of its own (wildcard descriptors); the gateway's own refusals
are problem+json like the services'.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from components.identity import PLATFORM_API_CLIENTS
from executor.identity.headers import GATEWAY_SECRET_HEADER as GATEWAY_SECRET_HEADER
from executor.identity.headers import IDENTITY_HEADERS as IDENTITY_HEADERS
from executor.identity.headers import ROLE_HEADER, SUBJECT_HEADER, TENANT_HEADER, WORKSPACE_HEADER
from falcone.plans import catalog as plan_catalog
from falcone.routes import PLAN_BURST_FRACTION, Domain, Route, RouteCatalog

Json = dict[str, Any]

# Seed 003: a client's X-Auth-* headers never pass.
IDENTITY_HEADER_PREFIX = "x-auth-"
CORRELATION_HEADER = "x-correlation-id"
# A verified bearer token acts as the workspace's runtime role, as the executor's own token path does.
TOKEN_ROLE = "runtime"

# Routes the automation service serves without a credential; a presented token must still verify.
# TODO(catalogue): an `auth = "none"` field in catalog/routes.toml would say this where the route is listed.
PUBLIC_PREFIXES = ("/v1/plans",)

JWT_FILTER = "envoy.filters.http.jwt_authn"
JWT_PAYLOAD = "jwt_payload"
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_MAX_INT64 = 2**63 - 1
# Per-credential buckets kept per route (least recently used dropped first, which resets that bucket).
_MAX_BUCKETS = 10_000


@dataclass(frozen=True)
class Upstreams:
    """Where the gateway sends traffic: the two services and the Keycloak that publishes the realms' keys."""

    automation: str
    executor: str
    keycloak: str


@dataclass(frozen=True)
class Trust:
    """Which realm may vouch for which tenants on the data plane, from the tenant registry (`tenants.outputs`)."""

    platform_realm: str
    tenant_realms: Mapping[str, frozenset[str]] = field(default_factory=dict)  # realm -> tenant slugs

    @classmethod
    def of(cls, platform_realm: str, tenants: Iterable[tuple[str, str]]) -> Trust:
        """From (tenant, realm) pairs."""
        realms: dict[str, set[str]] = {}
        for tenant, realm in tenants:
            realms.setdefault(realm, set()).add(tenant)
        return cls(platform_realm, {realm: frozenset(slugs) for realm, slugs in sorted(realms.items())})


@dataclass(frozen=True)
class GatewayOptions:
    gateway_secret: str
    host: str = "127.0.0.1"
    port: int = 18600
    admin_port: int = 18601
    # Scales every profile (headroom for load tests; a small one makes limits reachable in tests).
    rate_limit_multiplier: float = 1.0
    cors_origins: tuple[str, ...] = ()
    # How long a realm's published keys are trusted before they are fetched again (a rotated key is unknown
    # until then: Keycloak keeps the old key published for a while after a rotation).
    jwks_cache_s: int = 300
    max_connections: int = 10_000


# --- the whole document ------------------------------------------------------------------------------------------


def envoy_config(catalog: RouteCatalog, upstreams: Upstreams, options: GatewayOptions, trust: Trust) -> Json:
    """A complete Envoy v3 bootstrap with the listener inline (a ConfigMap, or `envoy --mode validate`)."""
    document = bootstrap(upstreams, options)
    document["static_resources"]["listeners"] = [listener(catalog, upstreams, options, trust)]
    return document


def bootstrap(upstreams: Upstreams, options: GatewayOptions, listener_file: str | None = None) -> Json:
    """The bootstrap: admin, the clusters; the listener inline (`envoy_config`) or from `listener_file`, which
    Envoy reloads whenever a new version is moved into place (how the trusted realms follow the registry)."""
    document: Json = {
        "node": {"id": "falcone-gateway", "cluster": "falcone-gateway"},
        "admin": {"address": _address(options.host, options.admin_port)},
        "overload_manager": {
            "resource_monitors": [
                {
                    "name": "envoy.resource_monitors.global_downstream_max_connections",
                    "typed_config": {
                        "@type": "type.googleapis.com/envoy.extensions.resource_monitors.downstream_connections.v3."
                        "DownstreamConnectionsConfig",
                        "max_active_downstream_connections": options.max_connections,
                    },
                }
            ]
        },
        "static_resources": {
            "clusters": [
                _cluster("automation", upstreams.automation),
                _cluster("executor", upstreams.executor),
                _cluster("keycloak", upstreams.keycloak),
            ]
        },
    }
    if listener_file is not None:
        directory = listener_file.rsplit("/", 1)[0]
        document["dynamic_resources"] = {
            "lds_config": {
                "resource_api_version": "V3",
                "path_config_source": {"path": listener_file, "watched_directory": {"path": directory}},
            }
        }
    return document


def listener_resource(listener: Json, version: str) -> Json:
    """A listener as a discovery response: the content of `listener_file`."""
    resource = {"@type": "type.googleapis.com/envoy.config.listener.v3.Listener"}
    return {"version_info": version, "resources": [resource | listener]}


def listener(catalog: RouteCatalog, upstreams: Upstreams, options: GatewayOptions, trust: Trust) -> Json:
    manager = {
        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3."
        "HttpConnectionManager",
        "stat_prefix": "gateway",
        "codec_type": "AUTO",
        "use_remote_address": True,
        # Paths reach the services as sent: an object key is the client's (resolving `a/./b` or merging `//` would
        # store another key), and each service refuses or 404s dot segments itself. Routing on the raw path cannot
        # lift a request into the other service: the prefix that picks the cluster is the one the service sees.
        "normalize_path": False,
        "merge_slashes": False,
        "generate_request_id": True,
        "upgrade_configs": [{"upgrade_type": "websocket"}],
        "route_config": _route_config(catalog, upstreams, options, trust),
        "http_filters": _http_filters(upstreams, options, trust),
        "local_reply_config": _local_replies(),
        "access_log": [_access_log()],
    }
    return {
        "name": "gateway",
        "address": _address(options.host, options.port),
        "filter_chains": [
            {"filters": [{"name": "envoy.filters.network.http_connection_manager", "typed_config": manager}]}
        ],
    }


# --- filters -----------------------------------------------------------------------------------------------------

_LUA = r"""
-- Identity headers only the gateway sets: a client's copies are dropped before any other filter reads them.
local stripped = {%(stripped)s}
local prefix = "%(prefix)s"

local function acceptable(value)
  -- the services' rule (falcone/http/middleware.py): 1-128 of [A-Za-z0-9._:-]
  return value ~= nil and #value <= 128 and value:match("^[%%w%%._:%%-]+$") ~= nil
end

function envoy_on_request(request_handle)
  local headers = request_handle:headers()
  local doomed = {}
  for name, _ in pairs(headers) do
    if stripped[name] or name:sub(1, #prefix) == prefix then
      doomed[#doomed + 1] = name
    end
  end
  for _, name in ipairs(doomed) do
    headers:remove(name)
  end
  local id = headers:get("%(correlation)s")
  if not acceptable(id) then
    id = headers:get("x-request-id")
    headers:replace("%(correlation)s", id)
  end
  request_handle:streamInfo():dynamicMetadata():set("falcone.gateway", "correlation_id", id)
end

function envoy_on_response(response_handle)
  local gateway = response_handle:streamInfo():dynamicMetadata():get("falcone.gateway")
  if gateway ~= nil then
    response_handle:headers():replace("%(correlation)s", gateway["correlation_id"])
  end
end
"""


def lua_source() -> str:
    return _LUA % {
        "stripped": ", ".join(f'["{name}"] = true' for name in IDENTITY_HEADERS),
        "prefix": IDENTITY_HEADER_PREFIX,
        "correlation": CORRELATION_HEADER,
    }


def _http_filters(upstreams: Upstreams, options: GatewayOptions, trust: Trust) -> list[Json]:
    return [
        _filter("envoy.filters.http.lua", "lua.v3.Lua", {"default_source_code": {"inline_string": lua_source()}}),
        _filter("envoy.filters.http.cors", "cors.v3.Cors", {}),
        _filter(JWT_FILTER, "jwt_authn.v3.JwtAuthentication", _jwt_authn(upstreams, trust, options.jwks_cache_s)),
        # No rules here: routes that authorize by claims carry their own (RBACPerRoute).
        _filter("envoy.filters.http.rbac", "rbac.v3.RBAC", {}),
        _filter("envoy.filters.http.local_ratelimit", "local_ratelimit.v3.LocalRateLimit", {"stat_prefix": "rate"}),
        _filter("envoy.filters.http.buffer", "buffer.v3.Buffer", {"max_request_bytes": 262_144}),
        _filter("envoy.filters.http.router", "router.v3.Router", {}),
    ]


def _filter(name: str, message: str, config: Json) -> Json:
    return {
        "name": name,
        "typed_config": {"@type": f"type.googleapis.com/envoy.extensions.filters.http.{message}", **config},
    }


# --- JWTs: one provider per realm ----------------------------------------------------------------------------------

_PLATFORM_PROVIDER = "platform"


def _data_provider(realm: str) -> str:
    return f"data:{realm}"


def data_realms(trust: Trust) -> list[str]:
    """The realms whose tokens the data routes verify (the platform realm always: starter tenants share it)."""
    return sorted({trust.platform_realm, *trust.tenant_realms})


def issuer(keycloak: str, realm: str) -> str:
    return f"{keycloak.rstrip('/')}/realms/{realm}"


def _jwt_authn(upstreams: Upstreams, trust: Trust, jwks_cache_s: int) -> Json:
    def provider(realm: str, *, data: bool) -> Json:
        iss = issuer(upstreams.keycloak, realm)
        config: Json = {
            "issuer": iss,
            "remote_jwks": {
                "http_uri": {"uri": f"{iss}/protocol/openid-connect/certs", "cluster": "keycloak", "timeout": "5s"},
                "cache_duration": f"{jwks_cache_s}s",
                "async_fetch": {"failed_refetch_duration": "10s"},
                "retry_policy": {"num_retries": 2},
            },
            # Only the Authorization header: a token in a URL would end up in logs.
            "from_headers": [{"name": "authorization", "value_prefix": "Bearer "}],
            "payload_in_metadata": JWT_PAYLOAD,
            # The automation service verifies the token again; the executor gets the verified claims instead
            # (with a token it would ignore the gateway's headers, by design).
            "forward": not data,
        }
        if data:
            config["claim_to_headers"] = [
                {"header_name": TENANT_HEADER, "claim_name": "tenant_id"},
                {"header_name": WORKSPACE_HEADER, "claim_name": "workspace_id"},
                {"header_name": SUBJECT_HEADER, "claim_name": "sub"},
            ]
        return config

    providers = {_PLATFORM_PROVIDER: provider(trust.platform_realm, data=False)}
    providers |= {_data_provider(realm): provider(realm, data=True) for realm in data_realms(trust)}
    data = [{"provider_name": _data_provider(realm)} for realm in data_realms(trust)]
    return {
        "providers": providers,
        "requirement_map": {
            "structural": {"provider_name": _PLATFORM_PROVIDER},
            "public": {
                "requires_any": {"requirements": [{"provider_name": _PLATFORM_PROVIDER}, {"allow_missing": {}}]}
            },
            "data": data[0] if len(data) == 1 else {"requires_any": {"requirements": data}},
        },
    }


# --- claims: who may use which domain --------------------------------------------------------------------------


def _claim(name: str, value: Json) -> Json:
    path = [{"key": JWT_PAYLOAD}, {"key": name}]
    matcher = {"filter": JWT_FILTER, "path": path, "value": value}
    return {"sourced_metadata": {"metadata_matcher": matcher, "metadata_source": "DYNAMIC"}}


def _claim_in(name: str, values: Iterable[str]) -> Json:
    ids = [_claim(name, {"string_match": {"exact": value}}) for value in sorted(values)]
    return ids[0] if len(ids) == 1 else {"or_ids": {"ids": ids}}


def _rbac(policies: Mapping[str, list[Json]]) -> Json:
    """Allow only callers matching one of the policies (none: nobody); each policy is a list of conditions."""
    rules = {
        name: {"permissions": [{"any": True}], "principals": [{"and_ids": {"ids": conditions}}]}
        for name, conditions in policies.items()
    }
    return {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBACPerRoute",
        "rbac": {"rules": {"action": "ALLOW", "policies": rules}},
    }


def structural_policy(upstreams: Upstreams, trust: Trust) -> Json:
    """An access token of the platform realm, issued to a platform API client (as automation/auth.py checks)."""
    return _rbac(
        {
            "platform-api-client": [
                _claim_in("iss", [issuer(upstreams.keycloak, trust.platform_realm)]),
                _claim_in("typ", ["Bearer"]),
                _claim_in("azp", PLATFORM_API_CLIENTS),
            ]
        }
    )


def data_policy(upstreams: Upstreams, trust: Trust) -> Json:
    """An access token with a workspace context, from the realm the registry names for the token's tenant."""
    return _rbac(
        {
            f"realm:{realm}": [
                _claim_in("iss", [issuer(upstreams.keycloak, realm)]),
                _claim_in("typ", ["Bearer"]),
                _claim_in("tenant_id", tenants),
                _claim("workspace_id", {"present_match": True}),
            ]
            for realm, tenants in sorted(trust.tenant_realms.items())
            if tenants
        }
    )


# --- rate limits ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bucket:
    max_tokens: int
    tokens_per_fill: int
    fill_interval_ms: int

    @property
    def retry_after_s(self) -> int:
        return max(1, math.ceil(self.fill_interval_ms / 1000))

    def json(self) -> Json:
        interval = self.fill_interval_ms / 1000
        return {
            "max_tokens": self.max_tokens,
            "tokens_per_fill": self.tokens_per_fill,
            "fill_interval": f"{interval:g}s",
        }


def bucket(catalog: RouteCatalog, route: Route, multiplier: float) -> Bucket:
    """The route's profile as a token bucket. A plan rate (`data_api`) is the most generous plan's here: the
    gateway does not know a key's plan (the executor verifies keys and applies the plan's own figure)."""
    profile = catalog.profile(route)
    if profile.per_minute == "plan":
        per_minute = float(max(plan.quotas.api_calls_per_minute for plan in plan_catalog().plans.values()))
        burst = per_minute * PLAN_BURST_FRACTION
    else:
        per_minute, burst = float(profile.per_minute), float(profile.burst or 1)
    per_minute, burst = per_minute * multiplier, max(1.0, burst * multiplier)
    interval_ms = 60_000 / per_minute
    if interval_ms >= 50:  # Envoy refills at most every 50 ms
        return Bucket(int(burst), 1, math.ceil(interval_ms))
    return Bucket(int(burst), max(1, round(per_minute / 60)), 1000)


def _rate_limit(name: str, rate: Bucket, action: Json, *, key: str = "credential") -> Json:
    """A bucket per distinct value of the descriptor `action` produces (under `key`)."""
    return {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit",
        "stat_prefix": f"rate_{name}",
        # Requests no descriptor matched (none should reach here) share this one.
        "token_bucket": rate.json(),
        "filter_enabled": {"default_value": {"numerator": 100, "denominator": "HUNDRED"}},
        "filter_enforced": {"default_value": {"numerator": 100, "denominator": "HUNDRED"}},
        # An empty value is a wildcard: each distinct credential gets a bucket of its own.
        "rate_limits": [{"actions": [action]}],
        "descriptors": [{"entries": [{"key": key, "value": ""}], "token_bucket": rate.json()}],
        "max_dynamic_descriptors": _MAX_BUCKETS,
        "always_consume_default_token_bucket": False,
        "response_headers_to_add": [{"header": {"key": "retry-after", "value": str(rate.retry_after_s)}}],
    }


# --- routes --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _ApiKeyClass:
    """One way of presenting an API key: how a route recognises it, and which value names the key's bucket."""

    name: str
    match: Json
    descriptor: Json
    structural: bool  # also refused on structural routes (the query parameter is only read by the executor)


_API_KEY_CLASSES = (
    _ApiKeyClass(
        "apikey",
        {"headers": [{"name": "apikey", "present_match": True}]},
        {"request_headers": {"header_name": "apikey", "descriptor_key": "credential"}},
        structural=True,
    ),
    _ApiKeyClass(
        "x-api-key",
        {"headers": [{"name": "x-api-key", "present_match": True}]},
        {"request_headers": {"header_name": "x-api-key", "descriptor_key": "credential"}},
        structural=True,
    ),
    _ApiKeyClass(
        "authorization",
        # falcone/apikeys.py: anything with the marker is a key (and fails closed if it is not a valid one)
        {
            "headers": [
                {
                    "name": "authorization",
                    "string_match": {"safe_regex": {"regex": r"(?i)\s*(bearer\s+flc_|apikey\s).*"}},
                }
            ]
        },
        {"request_headers": {"header_name": "authorization", "descriptor_key": "credential"}},
        structural=True,
    ),
    _ApiKeyClass(
        "query",
        {"query_parameters": [{"name": "apikey", "present_match": True}]},
        {"query_parameters": {"query_parameter_name": "apikey", "descriptor_key": "credential"}},
        structural=False,
    ),
)


def _route_config(catalog: RouteCatalog, upstreams: Upstreams, options: GatewayOptions, trust: Trust) -> Json:
    routes = [_preflight(options.cors_origins)] if options.cors_origins else []
    for entry in sorted(catalog.routes, key=lambda route: len(route.prefix.split("/")), reverse=True):
        for methods in _method_groups(entry):
            routes += _entry_routes(catalog, entry, methods, upstreams, options, trust)
    host: Json = {"name": "falcone", "domains": ["*"], "routes": routes}
    if options.cors_origins:
        host["typed_per_filter_config"] = {"envoy.filters.http.cors": _cors(options.cors_origins)}
    return {"name": "falcone", "virtual_hosts": [host]}


def _method_groups(entry: Route) -> list[tuple[str, ...]]:
    """Bodyless and body methods apart: only the latter are buffered (a WebSocket upgrade never ends its body)."""
    bodyless = tuple(method for method in entry.methods if method not in _BODY_METHODS)
    body = tuple(method for method in entry.methods if method in _BODY_METHODS)
    return [group for group in (bodyless, body) if group]


def _path_match(entry: Route) -> Json:
    if "{" not in entry.prefix:
        return {"path_separated_prefix": entry.prefix}
    return {"safe_regex": {"regex": entry.pattern.pattern.removeprefix("^").removesuffix("$")}}


def _match(entry: Route, methods: tuple[str, ...], extra: Json | None = None) -> Json:
    match = _path_match(entry)
    headers = [{"name": ":method", "string_match": {"safe_regex": {"regex": "|".join(methods)}}}]
    extra = extra or {}
    match["headers"] = headers + extra.get("headers", [])
    if "query_parameters" in extra:
        match["query_parameters"] = extra["query_parameters"]
    return match


def _entry_routes(
    catalog: RouteCatalog,
    entry: Route,
    methods: tuple[str, ...],
    upstreams: Upstreams,
    options: GatewayOptions,
    trust: Trust,
) -> list[Json]:
    label = f"{entry.service} {'|'.join(methods)} {entry.prefix}"
    slug = re.sub(r"[^a-z0-9]+", "_", f"{entry.service} {methods[0]} {entry.prefix}".lower()).strip("_")
    rate = bucket(catalog, entry, options.rate_limit_multiplier)
    buffered = bool(set(methods) & _BODY_METHODS)
    routes = [
        _direct(
            f"{label} (body too large)",
            _match(entry, methods, {"headers": [_longer_than(entry.body_limit)]}),
            413,
            f"the request body exceeds this route's limit of {entry.body_limit} bytes",
        )
    ]
    data = entry.domain is Domain.DATA_ACCESS
    for credential in _API_KEY_CLASSES:
        match = _match(entry, methods, credential.match)
        if data:
            routes.append(
                _forward(
                    f"{label} (api key: {credential.name})",
                    match,
                    entry,
                    per_filter={
                        JWT_FILTER: _jwt_route(None),
                        "envoy.filters.http.local_ratelimit": _rate_limit(f"{slug}_key", rate, credential.descriptor),
                        "envoy.filters.http.buffer": _buffer(entry, buffered),
                    },
                )
            )
        elif credential.structural:
            routes.append(
                _direct(
                    f"{label} (api key refused)",
                    match,
                    403,
                    "API keys (flc_…) belong to the data API; this route takes a Bearer access token of the "
                    "platform realm",
                )
            )
    subject = {
        "metadata": {
            "descriptor_key": "credential",
            "metadata_key": {"key": JWT_FILTER, "path": [{"key": JWT_PAYLOAD}, {"key": "sub"}]},
            "source": "DYNAMIC",
            "skip_if_absent": True,
        }
    }
    public = entry.prefix in PUBLIC_PREFIXES
    per_filter: Json = {
        JWT_FILTER: _jwt_route("data" if data else "public" if public else "structural"),
        "envoy.filters.http.buffer": _buffer(entry, buffered),
    }
    if public:  # callers without a credential: a bucket per client address
        per_filter["envoy.filters.http.local_ratelimit"] = _rate_limit(
            f"{slug}_addr", rate, {"remote_address": {}}, key="remote_address"
        )
    else:
        per_filter["envoy.filters.http.local_ratelimit"] = _rate_limit(f"{slug}_token", rate, subject)
        per_filter["envoy.filters.http.rbac"] = (
            data_policy(upstreams, trust) if data else structural_policy(upstreams, trust)
        )
    headers = [_set(GATEWAY_SECRET_HEADER, options.gateway_secret), _set(ROLE_HEADER, TOKEN_ROLE)] if data else []
    routes.append(
        _forward(
            f"{label} (bearer token)",
            _match(entry, methods),
            entry,
            per_filter=per_filter,
            request_headers=headers,
        )
    )
    return routes


def _longer_than(limit: int) -> Json:
    return {"name": "content-length", "range_match": {"start": limit + 1, "end": _MAX_INT64}}


def _set(name: str, value: str) -> Json:
    return {"header": {"key": name, "value": value}, "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"}


def _jwt_route(requirement: str | None) -> Json:
    config: Json = {"@type": "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.PerRouteConfig"}
    return config | ({"disabled": True} if requirement is None else {"requirement_name": requirement})


def _buffer(entry: Route, buffered: bool) -> Json:
    config: Json = {"@type": "type.googleapis.com/envoy.extensions.filters.http.buffer.v3.BufferPerRoute"}
    return config | ({"buffer": {"max_request_bytes": entry.body_limit}} if buffered else {"disabled": True})


def _forward(
    name: str,
    match: Json,
    entry: Route,
    *,
    per_filter: Json,
    request_headers: list[Json] | None = None,
) -> Json:
    route: Json = {
        "name": name,
        "match": match,
        "route": {
            "cluster": entry.service,
            # Streams (SSE, WebSocket, operation events) last as long as they are not idle.
            "timeout": "0s",
        },
        "typed_per_filter_config": per_filter,
    }
    if request_headers:
        route["request_headers_to_add"] = request_headers
    return route


def _direct(name: str, match: Json, status: int, detail: str) -> Json:
    return {
        "name": name,
        "match": match,
        "direct_response": {"status": status, "body": {"inline_string": detail}},
        "typed_per_filter_config": {JWT_FILTER: _jwt_route(None)},
    }


def _preflight(origins: tuple[str, ...]) -> Json:
    """CORS preflights from allowed origins, which the CORS filter answers itself (it needs a forwarding route:
    nothing is forwarded). Other origins' preflights fall through to the catalogue's routes and are refused."""
    match = {
        "prefix": "/",
        "headers": [
            {"name": ":method", "string_match": {"exact": "OPTIONS"}},
            {"name": "access-control-request-method", "present_match": True},
            {"name": "origin", "string_match": {"safe_regex": {"regex": "|".join(re.escape(o) for o in origins)}}},
        ],
    }
    return {
        "name": "cors preflight",
        "match": match,
        "route": {"cluster": "automation"},
        "typed_per_filter_config": {JWT_FILTER: _jwt_route(None)},
    }


def _cors(origins: tuple[str, ...]) -> Json:
    return {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy",
        "allow_origin_string_match": [{"exact": origin} for origin in origins],
        "allow_methods": "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS",
        "allow_headers": "authorization, apikey, x-api-key, content-type, idempotency-key, prefer, range, "
        "if-match, if-none-match, x-correlation-id, accept-profile, content-profile",
        "expose_headers": "x-correlation-id, retry-after, location, content-range, etag, idempotency-replayed",
        "max_age": "600",
    }


# --- the gateway's own answers: problem+json -----------------------------------------------------------------

_WITHOUT_QUERY = {
    "name": "envoy.formatter.req_without_query",
    "typed_config": {"@type": "type.googleapis.com/envoy.extensions.formatter.req_without_query.v3.ReqWithoutQuery"},
}
# What a token that verified but belongs to the other privilege domain (or realm) is told, by service.
_CLAIMS_REFUSED = {
    "automation": "this API takes an access token of the platform realm issued to a platform API client; "
    "workspace tokens and API keys belong to the data API",
    "executor": "this token is not a data credential: it must carry a workspace context (tenant_id, workspace_id) "
    "and come from the realm of that tenant",
}
_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    413: "Content Too Large",
    429: "Too Many Requests",
    431: "Request Header Fields Too Large",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


def _local_replies() -> Json:
    def body(title: str) -> Json:
        return {
            "json_format": {
                "type": "about:blank",
                "title": title,
                "status": "%RESPONSE_CODE%",
                "detail": "%LOCAL_REPLY_BODY%",
                "instance": "%REQ_WITHOUT_QUERY(:PATH)%",
                "correlation_id": f"%REQ({CORRELATION_HEADER})%",
            },
            "content_type": "application/problem+json",
            "formatters": [_WITHOUT_QUERY],
        }

    def status(op: str, code: int) -> Json:
        comparison = {"op": op, "value": {"default_value": code, "runtime_key": f"gateway.problem_{op}_{code}"}}
        return {"status_code_filter": {"comparison": comparison}}

    def refused_by_claims(service: str) -> Json:
        expression = (
            f"response.code_details.startsWith('rbac_access_denied') && xds.route_name.startsWith('{service} ')"
        )
        config = {
            "@type": "type.googleapis.com/envoy.extensions.access_loggers.filters.cel.v3.ExpressionFilter",
            "expression": expression,
        }
        return {"extension_filter": {"name": "envoy.access_loggers.extension_filters.cel", "typed_config": config}}

    mappers: list[Json] = [
        {
            "filter": refused_by_claims(service),
            "body": {"inline_string": detail},
            "body_format_override": body(_TITLES[403]),
        }
        for service, detail in _CLAIMS_REFUSED.items()
    ]
    mappers += [{"filter": status("EQ", code), "body_format_override": body(title)} for code, title in _TITLES.items()]
    mappers[len(_CLAIMS_REFUSED) + list(_TITLES).index(404)]["body"] = {
        "inline_string": "no public route serves this method and path"
    }
    mappers.append({"filter": status("GE", 400), "body_format_override": body("Error")})
    return {"mappers": mappers}


def _access_log() -> Json:
    # No query string (an anon key may travel there), no credential header.
    fields = {
        "time": "%START_TIME%",
        "correlation_id": f"%REQ({CORRELATION_HEADER})%",
        "method": "%REQ(:METHOD)%",
        "path": "%REQ_WITHOUT_QUERY(:PATH)%",
        "status": "%RESPONSE_CODE%",
        "details": "%RESPONSE_CODE_DETAILS%",
        "route": "%ROUTE_NAME%",
        "upstream": "%UPSTREAM_CLUSTER%",
        "duration_ms": "%DURATION%",
        "bytes_in": "%BYTES_RECEIVED%",
        "bytes_out": "%BYTES_SENT%",
    }
    return {
        "name": "envoy.access_loggers.stdout",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog",
            "log_format": {"json_format": fields, "formatters": [_WITHOUT_QUERY]},
        },
    }


# --- addresses ---------------------------------------------------------------------------------------------------


def _address(host: str, port: int) -> Json:
    return {"socket_address": {"address": host, "port_value": port}}


def _cluster(name: str, url: str) -> Json:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"upstream {name}: {url!r} is not an http(s) URL")
    host = parts.hostname
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        ipaddress.ip_address(host)
        kind = "STATIC"
    except ValueError:
        kind = "LOGICAL_DNS"
    cluster: Json = {
        "name": name,
        "type": kind,
        "connect_timeout": "5s",
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": _address(host, port)}}]}],
        },
    }
    if parts.scheme == "https":
        cluster["transport_socket"] = {
            "name": "envoy.transport_sockets.tls",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
                "sni": host,
            },
        }
    return cluster
