"""The automation API end to end: HTTP against `python -m automation` on the real platform, checked on the servers."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any
from uuid import uuid4

import httpx2
import psycopg
import pytest
from kafka import KafkaAdminClient, KafkaConsumer
from minio import Minio
from psycopg import sql

from automation.operations.engine import stack_processes
from falcone import pulumi_runner
from falcone.naming import TenantNames, WorkspaceNames
from tests.automation.api import Api
from tests.automation.service import AutomationProcess
from tests.platform_stack_fixtures import PlatformDeployment

pytestmark = [pytest.mark.toolchain, pytest.mark.platform]


def _slug(prefix: str) -> str:
    return f"{prefix}{uuid4().hex[:8]}"


def _realm_exists(deployment: PlatformDeployment, realm: str) -> bool:
    assert deployment.backends.keycloak is not None
    url = f"{deployment.backends.keycloak.url}/realms/{realm}/.well-known/openid-configuration"
    return httpx2.get(url, timeout=10).status_code == 200


def _tenant_database(deployment: PlatformDeployment) -> str:
    assert deployment.backends.postgres is not None
    return psycopg.conninfo.make_conninfo(deployment.backends.postgres.dsn, dbname=deployment.outputs.tenant_database)


def _delete_tenant(api: Api, slug: str) -> None:
    for operation in api.accepted("DELETE", f"/v1/tenants/{slug}"):
        api.succeeded(operation["id"])
    assert api.request("GET", f"/v1/tenants/{slug}").status_code == 404


def _on_audit_topic(deployment: PlatformDeployment, event_ids: set[str]) -> set[str]:
    """The outcomes of `event_ids` as read from the platform's Kafka audit topic (waits for the publisher)."""
    assert deployment.backends.kafka is not None
    consumer = KafkaConsumer(
        deployment.outputs.audit_topic,
        auto_offset_reset="earliest",
        consumer_timeout_ms=30_000,
        **deployment.backends.kafka.client_settings(),
    )
    found: dict[str, str] = {}
    try:
        for message in consumer:
            event = json.loads(message.value)
            if event["eventId"] in event_ids:
                found[event["eventId"]] = event["outcome"]
            if set(found) == event_ids:
                break
    finally:
        consumer.close()
    return set(found.values())


def _events(api: Api, operation_id: str) -> list[tuple[str, dict[str, Any]]]:
    with api.http.stream(
        "GET", f"/v1/operations/{operation_id}/events", headers={"Authorization": f"Bearer {api.token()}"}
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        return _parse_events(response.iter_lines())


def _parse_events(lines: Iterable[str]) -> list[tuple[str, dict[str, Any]]]:
    events = []
    kind = ""
    for line in lines:
        if line.startswith("event: "):
            kind = line.removeprefix("event: ")
        elif line.startswith("data: "):
            events.append((kind, json.loads(line.removeprefix("data: "))))
    return events


def test_tenant_and_workspace_lifecycle_on_the_real_servers(api: Api, platform_deployment: PlatformDeployment) -> None:
    deployment, slug = platform_deployment, _slug("acme")
    tenant_names, names = TenantNames(slug), WorkspaceNames(slug, "prod")

    correlation = f"corr-{slug}"
    [create] = api.accepted(
        "POST",
        "/v1/tenants",
        json={"slug": slug, "display_name": "Acme", "plan": "growth"},
        headers={"X-Correlation-Id": correlation},
    )
    assert create["correlation_id"] == correlation
    assert create["status"] == "queued"
    assert create["kind"] == "tenant.create"
    done = api.succeeded(create["id"])
    assert done["outputs"]["realm"] == tenant_names.realm
    tenant = api.get(f"/v1/tenants/{slug}")
    assert tenant["state"] == "active"
    assert tenant["conditions"]["Ready"]["status"] == "True"
    assert tenant["observed_generation"] == tenant["generation"]
    assert _realm_exists(deployment, tenant_names.realm)
    # The correlation id reaches the Pulumi stack: its tags and its update history.
    stack = pulumi_runner.project_stack(
        tenant_names.stack, deployment.state_dir, create=False, work_dir=deployment.work_dir / tenant_names.stack
    )
    assert stack.list_tags()["falcone:correlation-id"] == correlation
    assert correlation in (stack.history(page_size=1)[0].message or "")
    # Audit: the operation's acceptance and success, in PostgreSQL (the API) and on the Kafka audit topic.
    audited = api.get(f"/v1/audit?tenant={slug}&action=tenant.create")["items"]
    assert sorted(event["outcome"] for event in audited) == ["accepted", "success"]
    assert {event["correlationId"] for event in audited} == {correlation}
    assert all(
        event["actor"]["id"] and event["resource"] == {"type": "tenant", "id": slug, "tenantId": slug}
        for event in audited
    )
    assert _on_audit_topic(deployment, {event["eventId"] for event in audited}) == {"accepted", "success"}

    [ws] = api.accepted(
        "POST",
        f"/v1/tenants/{slug}/workspaces",
        json={"slug": "prod", "display_name": "Production", "tables": ["todos"], "topics": ["events", "orders"]},
    )
    api.succeeded(ws["id"])
    workspace = api.get(f"/v1/tenants/{slug}/workspaces/prod")
    assert workspace["conditions"]["Ready"]["status"] == "True"
    assert workspace["outputs"]["topics"] == [names.topic("events"), names.topic("orders")]

    # The engine's progress, resource by resource, as Server-Sent Events ending with the final status.
    events = _events(api, ws["id"])
    done_resources = [payload["urn"] for kind, payload in events if kind == "resource" and payload["phase"] == "done"]
    assert any("WorkspaceDatabase" in urn or "database" in urn for urn in done_resources)
    assert events[-1] == ("status", {**events[-1][1], "status": "succeeded"})

    # On the servers: the schema with a FORCE-RLS table, the topics, the bucket.
    with psycopg.connect(_tenant_database(deployment)) as admin:
        forced = admin.execute(
            "SELECT relforcerowsecurity FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relname = 'todos'",
            (names.schema,),
        ).fetchone()
        assert forced == (True,)
    assert deployment.backends.kafka is not None
    assert deployment.backends.minio is not None
    admin_client = KafkaAdminClient(**deployment.backends.kafka.client_settings())
    try:
        assert {names.topic("events"), names.topic("orders")} <= set(admin_client.list_topics())
    finally:
        admin_client.close()
    minio = deployment.backends.minio
    storage = Minio(
        minio.endpoint_url.split("://", 1)[1], access_key=minio.access_key, secret_key=minio.secret_key, secure=False
    )
    assert storage.bucket_exists(names.bucket)

    # Quotas are refused before any Pulumi run, naming the dimension.
    response = api.request("PUT", f"/v1/tenants/{slug}/quotas", json={"max_workspaces": 1})
    assert response.status_code == 200
    assert response.json()["quotas"]["max_workspaces"] == 1
    before = api.get(f"/v1/operations?tenant={slug}")["items"]
    refused = api.request("POST", f"/v1/tenants/{slug}/workspaces", json={"slug": "dev", "display_name": "Dev"})
    assert refused.status_code == 422
    assert refused.json()["dimension"] == "max_workspaces"
    assert api.get(f"/v1/operations?tenant={slug}")["items"] == before
    downgrade = api.request("PATCH", f"/v1/tenants/{slug}", json={"plan": "starter"})
    assert downgrade.status_code == 422
    assert downgrade.json()["dimension"] == "max_topics"
    assert api.get(f"/v1/tenants/{slug}")["plan"] == "growth"

    # Two mutations of one stack serialize: the second starts after the first has finished.
    [first] = api.accepted("PATCH", f"/v1/tenants/{slug}", json={"display_name": "Acme Inc"})
    [second] = api.accepted("PATCH", f"/v1/tenants/{slug}", json={"display_name": "Acme Incorporated"})
    first, second = api.succeeded(first["id"]), api.succeeded(second["id"])
    assert datetime.fromisoformat(second["started_at"]) >= datetime.fromisoformat(first["finished_at"])
    assert api.get(f"/v1/tenants/{slug}")["display_name"] == "Acme Incorporated"

    # Drift: an RLS policy dropped out of band is reported, then repaired by an update.
    with psycopg.connect(_tenant_database(deployment), autocommit=True) as admin:
        admin.execute(sql.SQL("DROP POLICY tenant_isolation ON {}.todos").format(sql.Identifier(names.schema)))
    key = {"Idempotency-Key": f"drift-{slug}"}
    [check] = api.accepted("POST", f"/v1/tenants/{slug}/workspaces/prod/drift", headers=key)
    # A retry with the same Idempotency-Key (the real service, a real token) replays the answer: no second check.
    replay = api.request("POST", f"/v1/tenants/{slug}/workspaces/prod/drift", headers=key)
    assert replay.headers["idempotency-replayed"] == "true"
    assert replay.json()["operations"][0]["id"] == check["id"]
    assert [op["id"] for op in api.get(f"/v1/operations?tenant={slug}&kind=workspace.drift")["items"]] == [check["id"]]
    report = api.succeeded(check["id"])["outputs"]
    assert report["status"] == "Drifted"
    assert any("tenant_isolation" in change["urn"] or "policy" in change["urn"] for change in report["changes"])
    assert api.get(f"/v1/tenants/{slug}/workspaces/prod")["conditions"]["Drifted"]["status"] == "True"
    [repair] = api.accepted("POST", f"/v1/tenants/{slug}/workspaces/prod/repair")
    api.succeeded(repair["id"])
    [again] = api.accepted("POST", f"/v1/tenants/{slug}/workspaces/prod/drift")
    assert api.succeeded(again["id"])["outputs"]["status"] == "Ready"
    assert api.get(f"/v1/tenants/{slug}/workspaces/prod")["conditions"]["Drifted"]["status"] == "False"

    # Delete: the workspace first, then the tenant; nothing is left on the servers.
    _delete_tenant(api, slug)
    assert not _realm_exists(deployment, tenant_names.realm)
    assert not storage.bucket_exists(names.bucket)
    with psycopg.connect(_tenant_database(deployment)) as admin:
        assert admin.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (names.schema,)).fetchone() is None


def test_ten_tenants_created_concurrently_all_succeed(api: Api) -> None:
    slugs = [_slug("conc") for _ in range(10)]

    def create(slug: str) -> str:
        [operation] = api.accepted("POST", "/v1/tenants", json={"slug": slug, "display_name": slug, "plan": "starter"})
        return str(operation["id"])

    with ThreadPoolExecutor(max_workers=10) as pool:
        operations = list(pool.map(create, slugs))
    finished = [api.wait(operation, timeout=600) for operation in operations]
    assert [operation["status"] for operation in finished] == ["succeeded"] * 10
    listed = {tenant["slug"] for tenant in api.get("/v1/tenants?q=conc&limit=200")["items"]}
    assert set(slugs) <= listed
    with ThreadPoolExecutor(max_workers=10) as pool:
        list(pool.map(lambda slug: _delete_tenant(api, slug), slugs))


def test_kill_9_in_the_middle_of_an_up_ends_in_a_defined_state_and_retry_reaches_ready(
    api: Api, automation_service: AutomationProcess, platform_deployment: PlatformDeployment
) -> None:
    slug = _slug("crash")
    [create] = api.accepted("POST", "/v1/tenants", json={"slug": slug, "display_name": "Crash", "plan": "growth"})
    # Wait until the engine has created some resources and is creating more, then take the whole process group
    # down: creates in flight are left "pending" in the state, with their objects possibly on the servers.
    deadline = time.monotonic() + 120
    while len(_creates(_events_so_far(api, create["id"]))) < 4:
        assert time.monotonic() < deadline, "the engine never started creating resources"
        time.sleep(0.2)
    assert api.operation(create["id"])["status"] == "running"
    automation_service.kill()
    automation_service.start()

    finished = api.wait(create["id"], timeout=300)
    if finished["status"] == "failed":
        assert finished["error"], "a failed operation says why"
        [retry] = api.accepted("POST", f"/v1/operations/{create['id']}/retry")
        finished = api.succeeded(retry["id"])
    assert finished["status"] == "succeeded"
    tenant = api.get(f"/v1/tenants/{slug}")
    assert tenant["state"] == "active"
    assert tenant["conditions"]["Ready"]["status"] == "True"
    assert _realm_exists(platform_deployment, TenantNames(slug).realm)
    # The interruption is on record in the operation's events.
    kinds = [kind for kind, _ in _events(api, create["id"])]
    assert "interrupted" in kinds
    # No process of the killed run is left behind (the providers live in process groups of their own).
    assert stack_processes(TenantNames(slug).stack) == []
    _delete_tenant(api, slug)


def _creates(events: list[tuple[str, dict[str, Any]]]) -> list[str]:
    return [
        payload["urn"]
        for kind, payload in events
        if kind == "resource" and payload["op"] == "create" and payload["type"] == "pulumi-python:dynamic:Resource"
    ]


def _events_so_far(api: Api, operation_id: str) -> list[tuple[str, dict[str, Any]]]:
    """The events recorded until now (the stream would wait for the end)."""
    response = api.request("GET", f"/v1/operations/{operation_id}/events?follow=false")
    return _parse_events(response.text.splitlines())
