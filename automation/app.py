"""The automation service (structural_admin domain): lifecycle of tenants and workspaces through the Pulumi
Automation API on the project's own program. This first step serves the plan catalogue, health, and the
cross-cutting request handling (problem+json, correlation ids, body limits) every later route relies on."""

from __future__ import annotations

from fastapi import FastAPI

from automation.plans.endpoints import router as plans_router
from automation.settings import AutomationSettings
from falcone import toolchain
from falcone.http import problems
from falcone.http.middleware import BodyLimitMiddleware, CorrelationIdMiddleware


def create_app(settings: AutomationSettings | None = None) -> FastAPI:
    settings = settings or AutomationSettings()
    app = FastAPI(title="Falcone automation", version="0.1.0", openapi_url="/v1/openapi.json")
    problems.install(app)
    app.include_router(plans_router)

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"], responses={503: {"description": "a dependency is missing"}})
    async def readyz() -> dict[str, str]:
        built = toolchain.load()
        if not built.pulumi.exists():
            raise problems.Problem(503, "the Pulumi toolchain is not built: scripts/setup")
        return {"status": "ready", "pulumi": built.pulumi_version}

    # Outermost first: every response, the 413 included, carries the correlation id.
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(CorrelationIdMiddleware)
    return app
