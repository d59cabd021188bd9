"""The README's main job: start the services on the local platform, provision a demo tenant and workspace through
the automation API with the engine's progress live in the terminal, then make real data calls through the executor
with the workspace's own API keys (`falcone.demo_data`), and say how to call both."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rich.console import Console

from automation.settings import AutomationSettings
from falcone import demo_data, platform_stack, services
from falcone.api_client import ApiError, AutomationClient, operator_token
from falcone.platform_config import backends_from_endpoints
from localplatform import endpoints

TENANT = "demo"
WORKSPACE = "main"
TENANT_BODY = {"slug": TENANT, "display_name": "Demo tenant", "plan": "growth"}
WORKSPACE_BODY = {"slug": WORKSPACE, "display_name": "Main", "tables": ["todos"], "topics": ["events"]}


@dataclass
class Session:
    client: AutomationClient
    keycloak_url: str
    realm: str


def _session(*, start_service: bool = True) -> Session:
    try:
        running = endpoints.load()
    except FileNotFoundError:
        raise SystemExit("the local platform is not running; start it: scripts/platform start") from None
    if start_service:
        services.AUTOMATION.start()
    settings = AutomationSettings()
    outputs = platform_stack.outputs(settings.state_dir, settings.work_dir)
    keycloak = backends_from_endpoints(running).keycloak
    assert keycloak is not None
    cached: dict[str, Any] = {"token": "", "until": 0.0}

    def token() -> str:
        if time.monotonic() >= cached["until"]:
            value, lifetime = operator_token(keycloak.url, outputs.realm, outputs.operator_client_secret)
            cached.update(token=value, until=time.monotonic() + lifetime / 2)
        return str(cached["token"])

    return Session(AutomationClient(services.AUTOMATION.url, token), keycloak.url, outputs.realm)


def token() -> str:
    """An operator token for calling the API by hand (the service must have started once: it creates the
    platform stack that holds the operator client)."""
    return _session(start_service=False).client.token()


def _progress(console: Console) -> Callable[[str, dict[str, Any]], None]:
    def show(kind: str, payload: dict[str, Any]) -> None:
        if kind == "resource" and payload["phase"] in ("done", "failed"):
            name = payload["urn"].rsplit("::", 1)[-1]
            mark = "[green]✓[/]" if payload["phase"] == "done" else "[red]✗[/]"
            console.print(f"  {mark} {payload['op']:<8} {payload['type'].rsplit(':', 1)[-1]:<10} {name}")
        elif kind == "diagnostic":
            console.print(f"  [yellow]{payload['severity']}[/]: {payload['message'][:300]}")
        elif kind in ("status", "interrupted"):
            console.print(f"  [bold]{kind}[/]: {payload.get('status') or payload.get('reason')}")

    return show


def _apply(session: Session, console: Console, operations: list[dict[str, Any]]) -> dict[str, Any]:
    finished: dict[str, Any] = {}
    for operation in operations:
        console.print(f"[bold]{operation['kind']}[/] {operation['stack']} (operation {operation['id']})")
        finished = session.client.follow(operation["id"], _progress(console))
        if finished["status"] != "succeeded":
            raise SystemExit(f"{operation['kind']} failed: {finished['error']}")
    return finished


def up(console: Console) -> dict[str, Any]:
    session = _session()
    client = session.client
    tenant = client.get(f"/v1/tenants/{TENANT}")
    if tenant is None:
        _apply(session, console, client.mutate("POST", "/v1/tenants", json=TENANT_BODY))
    else:
        # Repair, not just a look at the conditions: the local servers keep nothing across a restart in places
        # (OpenBao runs in dev mode), and a repair (refresh + up) puts back whatever went missing.
        console.print(f"tenant {TENANT!r} exists: repairing it (refresh + up)")
        _apply(session, console, client.mutate("POST", f"/v1/tenants/{TENANT}/repair"))
    workspace = client.get(f"/v1/tenants/{TENANT}/workspaces/{WORKSPACE}")
    if workspace is None:
        _apply(session, console, client.mutate("POST", f"/v1/tenants/{TENANT}/workspaces", json=WORKSPACE_BODY))
    else:
        console.print(f"workspace {WORKSPACE!r} exists: repairing it (refresh + up)")
        _apply(session, console, client.mutate("POST", f"/v1/tenants/{TENANT}/workspaces/{WORKSPACE}/repair"))
    workspace = client.get(f"/v1/tenants/{TENANT}/workspaces/{WORKSPACE}")
    assert workspace is not None
    services.EXECUTOR.start()
    services.GATEWAY.start()
    gateway = services.GATEWAY.url
    console.print(f"[bold]data calls[/] through the gateway ({gateway}) to the executor, with the workspace's API keys")
    keys = demo_data.workspace_keys(client, TENANT, WORKSPACE)
    return {
        "tenant": client.get(f"/v1/tenants/{TENANT}"),
        "workspace": workspace,
        "data": demo_data.run(console, gateway, keys, workspace),
        "api": services.AUTOMATION.url,
    }


def down(console: Console) -> None:
    session = _session()
    try:
        operations = session.client.mutate("DELETE", f"/v1/tenants/{TENANT}")
    except ApiError as error:
        if error.status == 404:
            console.print(f"no tenant {TENANT!r}")
            return
        raise
    for operation in sorted(operations, key=lambda op: op["kind"] != "workspace.delete"):
        _apply(session, console, [operation])
    demo_data.forget_keys()
