"""The public route catalogue (catalog/routes.toml) as typed, validated data, and the lookup every consumer
shares: which entry serves a request (longest matching prefix, then the methods), so the gateway's generated
configuration, the services' limits and the tests agree on one table.
"""

from __future__ import annotations

import re
import tomllib
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

CATALOG = Path(__file__).with_name("catalog") / "routes.toml"
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
_PARAMETER = re.compile(r"\{[a-z_]+\}")
# A `plan` profile's burst: this fraction of the plan's per-minute rate (seed 003's profiles: burst ≈ a quarter).
PLAN_BURST_FRACTION = 0.25
_PREFIX = re.compile(r"^(/[a-z0-9._-]+|/\{[a-z_]+\})+$")


class Domain(StrEnum):
    STRUCTURAL_ADMIN = "structural_admin"
    DATA_ACCESS = "data_access"
    FUNCTION_DEPLOYMENT = "function_deployment"


Service = Literal["automation", "executor"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RateProfile(_Frozen):
    name: str
    # "plan": the tenant plan's api_calls_per_minute (falcone/catalog/plans.toml), burst a quarter of it
    per_minute: int | Literal["plan"] = Field(union_mode="left_to_right")
    burst: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _burst_with_a_fixed_rate(self) -> RateProfile:
        if (self.per_minute == "plan") != (self.burst is None):
            raise ValueError(f"profile {self.name!r}: a fixed per_minute needs a burst; 'plan' takes none")
        return self


class Route(_Frozen):
    prefix: str = Field(pattern=_PREFIX.pattern)
    service: Service
    domain: Domain
    profile: str
    methods: tuple[str, ...] = METHODS
    body_limit: int = Field(ge=0)
    idempotency: bool = False
    required_headers: tuple[str, ...] = ()

    @property
    def pattern(self) -> re.Pattern[str]:
        """The prefix as a regular expression over paths: itself or anything below it."""
        return _prefix_pattern(self.prefix)

    def matches(self, method: str, path: str) -> bool:
        return method in self.methods and self.pattern.match(path) is not None


class RouteCatalog(_Frozen):
    profiles: dict[str, RateProfile]
    routes: tuple[Route, ...]
    internal: tuple[str, ...]

    @model_validator(mode="after")
    def _consistent(self) -> RouteCatalog:
        for route in self.routes:
            if route.profile not in self.profiles:
                raise ValueError(f"route {route.prefix}: unknown profile {route.profile!r}")
            unknown = set(route.methods) - set(METHODS)
            if unknown:
                raise ValueError(f"route {route.prefix}: unknown methods {sorted(unknown)}")
        seen: dict[tuple[str, str], str] = {}
        for route in self.routes:
            for method in route.methods:
                if (route.prefix, method) in seen:
                    raise ValueError(f"{method} {route.prefix} is listed twice")
                seen[(route.prefix, method)] = route.service
        return self

    def route(self, method: str, path: str) -> Route | None:
        """The entry that serves `method path`: the longest matching prefix (None: the gateway serves nothing)."""
        candidates = [route for route in self.routes if route.matches(method, path)]
        return max(candidates, key=lambda route: len(route.prefix.split("/")), default=None)

    def profile(self, route: Route) -> RateProfile:
        return self.profiles[route.profile]

    def is_internal(self, path: str) -> bool:
        return path in self.internal


@cache
def _prefix_pattern(prefix: str) -> re.Pattern[str]:
    segments = prefix.strip("/").split("/")
    parts = ["[^/]+" if _PARAMETER.fullmatch(segment) else re.escape(segment) for segment in segments]
    return re.compile("^/" + "/".join(parts) + "(/.*)?$")


@cache
def catalog(path: Path = CATALOG) -> RouteCatalog:
    raw = tomllib.loads(path.read_text())
    defaults = raw.get("defaults", {})
    return RouteCatalog(
        profiles={name: RateProfile(name=name, **values) for name, values in raw["profiles"].items()},
        routes=tuple(
            Route(
                **{
                    "body_limit": defaults.get("body_limit", 0),
                    "required_headers": tuple(defaults.get("required_headers", ())),
                    **values,
                }
            )
            for values in raw["routes"]
        ),
        internal=tuple(raw.get("internal", {}).get("paths", ())),
    )
