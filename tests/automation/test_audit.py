"""The audit trail on the session's platform deployment: rows written in the caller's transaction (outbox), the
publisher copying them to the real Kafka audit topic (and surviving a broker that is away), and `GET /v1/audit`
with its filters, pagination and tenant confinement.

Most HTTP tests authenticate with a stand-in verifier (tokens named by the test, the real `current_principal`
and authorization); one test logs a real user of the deployment's realm in.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import uuid4

import asyncpg
import httpx2
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from fastapi import FastAPI

from automation import auth
from automation.audit import repository, service
from automation.audit.endpoints import router as audit_router
from automation.audit.publisher import AuditPublisher
from automation.auth import Principal, TokenVerifier, Unauthenticated
from automation.db import create_pool
from falcone.http import problems
from falcone.http.middleware import CorrelationIdMiddleware
from tests.metadata_database import own_metadata_database
from tests.platform_stack_fixtures import PlatformDeployment

pytestmark = [pytest.mark.toolchain, pytest.mark.platform]

PROBLEM = "application/problem+json"
WAIT = 60  # seconds a test waits for the publisher or Kafka before it fails
SYSTEM = {"type": "system", "id": "tests", "roles": []}


class StandInVerifier:
    """Tokens named by the test; the rest (current_principal, authorize) is the service's own code."""

    def __init__(self, principals: dict[str, Principal]) -> None:
        self.principals = principals

    async def verify(self, token: str) -> Principal:
        try:
            return self.principals[token]
        except KeyError:
            raise Unauthenticated("not a token of this test") from None


def principal(*roles: str, tenant: str | None = None, workspace: str | None = None) -> Principal:
    return Principal(
        subject=str(uuid4()), username="someone", roles=frozenset(roles), tenant_id=tenant, workspace_id=workspace
    )


def audit_app(pool: asyncpg.Pool, verifier: Any) -> FastAPI:
    app = FastAPI()
    problems.install(app)
    auth.install(app)
    app.include_router(audit_router)
    app.state.pool, app.state.verifier = pool, verifier
    app.add_middleware(CorrelationIdMiddleware)
    return app


def client(app: FastAPI) -> httpx2.AsyncClient:
    return httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://automation")


@pytest.fixture(scope="module")
async def pool(platform_deployment: PlatformDeployment) -> AsyncIterator[asyncpg.Pool]:
    # A database of its own: the session's automation service publishes every unpublished event of its own.
    with own_metadata_database(platform_deployment, "audit") as outputs:
        pool = await create_pool(outputs.metadata_dsn(platform_deployment.backends, "automation"))
        yield pool
        await pool.close()


def new_tenant() -> str:
    return f"t{uuid4().hex[:10]}"


async def record(pool: asyncpg.Pool, tenant: str | None, **overrides: Any) -> str:
    event: dict[str, Any] = {
        "actor": SYSTEM,
        "action": "workspace.create",
        "resource_type": "workspace",
        "resource_id": f"wks_{uuid4().hex}",
        "tenant_id": tenant,
        "outcome": "success",
        "correlation_id": f"corr-{uuid4().hex[:8]}",
        **overrides,
    }
    async with pool.acquire() as connection, connection.transaction():
        return await service.record(connection, **event)


async def row(pool: asyncpg.Pool, event_id: str) -> dict[str, Any] | None:
    async with pool.acquire() as connection:
        return await repository.get(connection, event_id)


async def eventually(check: Callable[[], Awaitable[bool]], what: str) -> None:
    try:
        async with asyncio.timeout(WAIT):
            while True:  # the database and the broker cannot signal us: poll
                if await check():
                    return
                await asyncio.sleep(0.2)
    except TimeoutError:
        pytest.fail(f"{what} did not happen within {WAIT}s")


# --- the outbox ------------------------------------------------------------------------------------------------


async def test_the_audit_row_commits_and_rolls_back_with_the_change_it_describes(pool: asyncpg.Pool) -> None:
    tenant = new_tenant()
    actor = principal("tenant_admin", tenant=tenant).audit_actor()
    async with pool.acquire() as connection, connection.transaction():
        kept = await service.record(
            connection,
            actor=actor,
            action="workspace.create",
            resource_type="workspace",
            resource_id="wks_kept",
            tenant_id=tenant,
            outcome="accepted",
            correlation_id="corr-kept",
            metadata={"plan": "growth"},
        )
    stored = await row(pool, kept)
    assert stored is not None
    assert kept.startswith("evt_")
    assert len(kept) == len("evt_") + 32
    assert (stored["tenant_id"], stored["action"], stored["outcome"]) == (tenant, "workspace.create", "accepted")
    assert (stored["actor"], stored["metadata"]) == (actor, {"plan": "growth"})
    assert stored["correlation_id"] == "corr-kept"

    refused: list[str] = []

    async def change_that_fails() -> None:
        async with pool.acquire() as connection, connection.transaction():
            event_id = await service.record(
                connection,
                actor=actor,
                action="workspace.delete",
                resource_type="workspace",
                resource_id="wks_refused",
                tenant_id=tenant,
                outcome="accepted",
                correlation_id="corr-refused",
            )
            refused.append(event_id)
            assert await repository.get(connection, event_id) is not None  # written, in the transaction
            raise RuntimeError("the change failed")

    with pytest.raises(RuntimeError, match="the change failed"):
        await change_that_fails()
    assert await row(pool, refused[0]) is None


async def test_an_unknown_outcome_or_a_malformed_actor_is_a_programming_error(pool: asyncpg.Pool) -> None:
    with pytest.raises(ValueError, match="not a valid Outcome"):
        await record(pool, new_tenant(), outcome="maybe")
    with pytest.raises(ValueError, match="id"):
        await record(pool, new_tenant(), actor={"type": "user"})


# --- the publisher ---------------------------------------------------------------------------------------------


@pytest.fixture
async def audit_consumer(platform_deployment: PlatformDeployment) -> AsyncIterator[AIOKafkaConsumer]:
    """Reads the audit topic from its current end (other runs write to it too: tests look for their ids)."""
    assert platform_deployment.backends.kafka is not None
    topic = platform_deployment.outputs.audit_topic
    consumer = AIOKafkaConsumer(**platform_deployment.backends.kafka.client_settings(), enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, number) for number in sorted(consumer.partitions_for_topic(topic) or [])]
        if not partitions:
            await consumer._client.force_metadata_update()
            partitions = [TopicPartition(topic, n) for n in sorted(consumer.partitions_for_topic(topic) or [])]
        assert partitions, f"no partitions for {topic}"
        consumer.assign(partitions)
        await consumer.seek_to_end(*partitions)
        for partition in partitions:  # resolve the end offsets now, before anything is produced
            await consumer.position(partition)
        yield consumer
    finally:
        await consumer.stop()


@dataclass(frozen=True)
class Delivered:
    key: bytes | None
    headers: dict[str, bytes]
    value: dict[str, Any]


async def consume(consumer: AIOKafkaConsumer, event_ids: set[str]) -> list[Delivered]:
    """The messages carrying `event_ids`, in the order they were read."""
    found: list[Delivered] = []

    def missing() -> set[str]:
        return event_ids - {message.value["eventId"] for message in found}

    try:
        async with asyncio.timeout(WAIT):
            while missing():
                batches = await consumer.getmany(timeout_ms=1000)
                for message in (message for batch in batches.values() for message in batch):
                    value = json.loads(message.value)
                    if value.get("eventId") in event_ids:
                        found.append(Delivered(message.key, dict(message.headers), value))
    except TimeoutError:
        pytest.fail(f"events {missing()} never reached the audit topic")
    return found


@pytest.fixture
async def publishers(pool: asyncpg.Pool) -> AsyncIterator[Callable[..., AuditPublisher]]:
    started: list[AuditPublisher] = []

    def publisher(kafka_settings: dict[str, Any], topic: str, poll_seconds: float = 0.5) -> AuditPublisher:
        made = AuditPublisher(
            pool, kafka_settings, topic, poll_seconds=poll_seconds, retry_seconds=0.1, max_retry_seconds=0.5
        )
        started.append(made)
        return made

    yield publisher
    for made in started:
        await made.stop()


async def test_the_publisher_delivers_committed_events_in_order_and_marks_them(
    pool: asyncpg.Pool,
    platform_deployment: PlatformDeployment,
    audit_consumer: AIOKafkaConsumer,
    publishers: Callable[..., AuditPublisher],
) -> None:
    assert platform_deployment.backends.kafka is not None
    tenant = new_tenant()
    kafka = platform_deployment.backends.kafka.client_settings()
    # No polling to speak of: what brings the events out is the NOTIFY of their commits.
    publisher = publishers(kafka, platform_deployment.outputs.audit_topic, poll_seconds=3600)
    await publisher.start()
    event_ids = [await record(pool, tenant, action=f"workspace.step{n}", correlation_id=f"corr-{n}") for n in range(3)]
    platform_event = await record(pool, None, action="tenant.create", resource_type="tenant")

    messages = await consume(audit_consumer, {*event_ids, platform_event})
    of_tenant = [message for message in messages if message.key == tenant.encode()]
    assert [message.value["eventId"] for message in of_tenant] == event_ids  # one key, one partition, in order
    first = of_tenant[0].value
    assert set(first) == {
        "eventId",
        "correlationId",
        "timestamp",
        "actor",
        "resource",
        "action",
        "outcome",
        "metadata",
    }
    assert first["actor"] == SYSTEM
    assert first["resource"]["tenantId"] == tenant
    assert (first["action"], first["outcome"], first["correlationId"]) == ("workspace.step0", "success", "corr-0")
    assert dict(of_tenant[0].headers)["correlation-id"] == b"corr-0"
    assert next(m for m in messages if m.value["eventId"] == platform_event).key is None

    async def all_marked() -> bool:
        rows = [await row(pool, event_id) for event_id in [*event_ids, platform_event]]
        return all(stored is not None and stored["published_at"] is not None for stored in rows)

    await eventually(all_marked, "marking the published rows")


class Gate:
    """A TCP port that refuses connections until opened, then forwards to the real broker (Kafka away, then
    back, without touching the real server)."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = int(probe.getsockname()[1])
        self.server: asyncio.Server | None = None
        self.tasks: set[asyncio.Task[None]] = set()

    async def open(self) -> None:
        self.server = await asyncio.start_server(self._forward, "127.0.0.1", self.port)

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
        for task in self.tasks:
            task.cancel()

    async def _forward(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        broker_reader, broker_writer = await asyncio.open_connection(*self.target)

        async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError, asyncio.CancelledError):
                while data := await reader.read(65536):
                    writer.write(data)
                    await writer.drain()
            writer.close()

        for task in (
            asyncio.create_task(pipe(client_reader, broker_writer)),
            asyncio.create_task(pipe(broker_reader, client_writer)),
        ):
            self.tasks.add(task)


@pytest.fixture
async def gate(platform_deployment: PlatformDeployment) -> AsyncIterator[Gate]:
    assert platform_deployment.backends.kafka is not None
    host, port = platform_deployment.backends.kafka.bootstrap_servers.split(",")[0].rsplit(":", 1)
    gate = Gate((host, int(port)))
    yield gate
    await gate.close()


async def test_the_publisher_survives_a_broker_that_is_away_and_loses_nothing(
    pool: asyncpg.Pool,
    platform_deployment: PlatformDeployment,
    audit_consumer: AIOKafkaConsumer,
    publishers: Callable[..., AuditPublisher],
    gate: Gate,
) -> None:
    assert platform_deployment.backends.kafka is not None
    settings = {
        **platform_deployment.backends.kafka.client_settings(),
        "bootstrap_servers": f"127.0.0.1:{gate.port}",
    }
    publisher = publishers(settings, platform_deployment.outputs.audit_topic)
    await publisher.start()
    event_id = await record(pool, new_tenant(), action="workspace.delete")

    async def failed_twice() -> bool:
        return publisher.failures >= 2

    await eventually(failed_twice, "failing to reach the broker")
    assert publisher.last_error is not None
    stored = await row(pool, event_id)
    assert stored is not None
    assert stored["published_at"] is None  # kept for later, not dropped

    await gate.open()
    try:
        messages = await consume(audit_consumer, {event_id})

        async def marked() -> bool:
            stored = await row(pool, event_id)
            return stored is not None and stored["published_at"] is not None

        await eventually(marked, "marking the row published after the broker came back")
    finally:
        await publisher.stop()
        await gate.close()
    assert messages[0].value["action"] == "workspace.delete"
    assert publisher.failures == 0


# --- GET /v1/audit ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
async def trail(pool: asyncpg.Pool) -> dict[str, Any]:
    """Two tenants' events and one of the platform, recorded in this order (oldest first)."""
    acme, other = new_tenant(), new_tenant()
    events: dict[str, Any] = {"acme": acme, "other": other}
    events["acme_ids"] = [
        await record(pool, acme, action="workspace.create", resource_type="workspace", outcome="accepted"),
        await record(pool, acme, action="workspace.create", resource_type="workspace", outcome="success"),
        await record(pool, acme, action="application.create", resource_type="application", outcome="success"),
        await record(pool, acme, action="workspace.delete", resource_type="workspace", outcome="failure"),
        await record(pool, acme, action="api_key.create", resource_type="api_key", outcome="denied"),
    ]
    events["other_ids"] = [await record(pool, other), await record(pool, other, action="workspace.delete")]
    events["platform_id"] = await record(pool, None, action="tenant.create", resource_type="tenant")
    return events


@pytest.fixture(scope="module")
def people(trail: dict[str, Any]) -> dict[str, Principal]:
    return {
        "platform-admin": principal("platform_admin"),
        "platform-operator": principal("platform_operator"),
        "acme-admin": principal("tenant_admin", tenant=trail["acme"]),
        "acme-operator": principal("tenant_operator", tenant=trail["acme"]),
        "acme-workspace-admin": principal("workspace_admin", tenant=trail["acme"], workspace="prod"),
        "no-role": principal(tenant=trail["acme"]),
    }


@pytest.fixture
async def http(pool: asyncpg.Pool, people: dict[str, Principal]) -> AsyncIterator[httpx2.AsyncClient]:
    async with client(audit_app(pool, StandInVerifier(people))) as http:
        yield http


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def listing(http: httpx2.AsyncClient, token: str, **params: Any) -> list[dict[str, Any]]:
    response = await http.get("/v1/audit", params=params, headers=bearer(token))
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def test_items_have_the_seed_shape_newest_first(http: httpx2.AsyncClient, trail: dict[str, Any]) -> None:
    items = await listing(http, "platform-admin", tenant=trail["acme"])
    assert [item["eventId"] for item in items] == list(reversed(trail["acme_ids"]))
    newest = items[0]
    assert newest["resource"] == {"type": "api_key", "id": newest["resource"]["id"], "tenantId": trail["acme"]}
    assert newest["actor"] == SYSTEM
    assert (newest["action"], newest["outcome"]) == ("api_key.create", "denied")
    assert newest["correlationId"].startswith("corr-")
    assert datetime.fromisoformat(newest["timestamp"]).tzinfo is not None


async def test_filters_narrow_the_trail(http: httpx2.AsyncClient, pool: asyncpg.Pool, trail: dict[str, Any]) -> None:
    acme, ids = trail["acme"], trail["acme_ids"]

    async def found(**params: Any) -> list[str]:
        return [item["eventId"] for item in await listing(http, "platform-admin", tenant=acme, **params)]

    assert await found(action="workspace.create") == [ids[1], ids[0]]
    assert await found(outcome="success") == [ids[2], ids[1]]
    assert await found(resource_type="workspace", outcome="failure") == [ids[3]]
    second, fourth = await row(pool, ids[1]), await row(pool, ids[3])
    assert second is not None
    assert fourth is not None
    window = {"since": second["at"].isoformat(), "until": fourth["at"].isoformat()}
    assert await found(**window) == [ids[2], ids[1]]  # since inclusive, until exclusive
    future = (second["at"] + timedelta(days=365)).isoformat()
    assert await found(since=future) == []


async def test_pages_follow_the_cursor_without_gaps_or_repeats(http: httpx2.AsyncClient, trail: dict[str, Any]) -> None:
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"tenant": trail["acme"], "limit": 2, **({"cursor": cursor} if cursor else {})}
        response = await http.get("/v1/audit", params=params, headers=bearer("platform-admin"))
        assert response.status_code == 200
        body = response.json()
        assert set(body) == {"items", "next_cursor"}
        seen += [item["eventId"] for item in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(trail["acme_ids"]))
    assert pages == 3


async def test_the_platform_sees_every_tenant_and_its_own_events(
    http: httpx2.AsyncClient, trail: dict[str, Any]
) -> None:
    for token in ("platform-admin", "platform-operator"):
        ids = {item["eventId"] for item in await listing(http, token, limit=200)}
        assert {*trail["acme_ids"], *trail["other_ids"], trail["platform_id"]} <= ids


async def test_tenant_admin_cannot_read_another_tenants_audit(http: httpx2.AsyncClient, trail: dict[str, Any]) -> None:
    for token in ("acme-admin", "acme-operator"):
        # Positive control: the own tenant, named or not.
        named = await listing(http, token, tenant=trail["acme"])
        assert [item["eventId"] for item in named] == list(reversed(trail["acme_ids"]))
        unnamed = await listing(http, token, limit=200)
        assert {item["resource"]["tenantId"] for item in unnamed} == {trail["acme"]}
        assert not {item["eventId"] for item in unnamed} & {*trail["other_ids"], trail["platform_id"]}
        # The other tenant, existing or not, is the same 404.
        for tenant in (trail["other"], new_tenant()):
            response = await http.get("/v1/audit", params={"tenant": tenant}, headers=bearer(token))
            assert (response.status_code, response.headers["content-type"]) == (404, PROBLEM)
            assert response.json()["detail"] == f"no tenant {tenant!r}"


async def test_tenant_admin_cannot_widen_the_trail_with_a_cursor_of_the_platform(
    http: httpx2.AsyncClient, trail: dict[str, Any]
) -> None:
    page = await http.get("/v1/audit", params={"limit": 1}, headers=bearer("platform-admin"))
    cursor = page.json()["next_cursor"]
    assert cursor is not None
    items = await listing(http, "acme-admin", cursor=cursor, limit=200)
    assert [item["eventId"] for item in items] == list(reversed(trail["acme_ids"]))


async def test_roles_without_audit_read_are_refused(http: httpx2.AsyncClient) -> None:
    for token in ("acme-workspace-admin", "no-role"):
        response = await http.get("/v1/audit", headers=bearer(token))
        assert (response.status_code, response.headers["content-type"]) == (403, PROBLEM)


async def test_no_or_an_invalid_credential_is_a_401(http: httpx2.AsyncClient) -> None:
    missing = await http.get("/v1/audit")
    assert (missing.status_code, missing.headers["content-type"]) == (401, PROBLEM)
    assert missing.headers["www-authenticate"] == "Bearer"
    invalid = await http.get("/v1/audit", headers=bearer("forged"))
    assert invalid.status_code == 401


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": 201},
        {"limit": "many"},
        {"tennant": "acme"},  # a misspelt filter must not show everything
        {"outcome": "maybe"},
        {"action": "DROP TABLE"},
        {"tenant": "a b"},
        {"since": "2024-01-15T10:00:00"},  # no time zone
        {"since": "2024-01-15T10:00:00Z", "until": "2024-01-15T09:00:00Z"},
        {"cursor": "not-a-cursor"},
        {"cursor": "WzEsMl0"},  # base64 of [1,2]
        {"cursor": "x" * 600},
    ],
)
async def test_invalid_queries_are_422_problems(http: httpx2.AsyncClient, params: dict[str, Any]) -> None:
    response = await http.get("/v1/audit", params=params, headers=bearer("platform-admin"))
    assert (response.status_code, response.headers["content-type"]) == (422, PROBLEM)
    assert response.json()["detail"]


# --- a real token ----------------------------------------------------------------------------------------------


def keycloak_admin(deployment: PlatformDeployment) -> httpx2.Client:
    keycloak = deployment.backends.keycloak
    assert keycloak is not None
    token = httpx2.post(
        f"{keycloak.url}/realms/{keycloak.admin_realm}/protocol/openid-connect/token",
        data={
            "grant_type": "password",
            "client_id": keycloak.admin_client_id,
            "username": keycloak.admin_user,
            "password": keycloak.admin_password,
        },
    )
    token.raise_for_status()
    return httpx2.Client(
        base_url=f"{keycloak.url}/admin/realms/{deployment.outputs.realm}",
        headers={"Authorization": f"Bearer {token.json()['access_token']}"},
    )


def logged_in_tenant_admin(deployment: PlatformDeployment, tenant: str) -> str:
    """A user of the deployment's realm with role tenant_admin and `tenant_id` = tenant; its access token."""
    keycloak = deployment.backends.keycloak
    assert keycloak is not None
    username, password = f"audit-{uuid4().hex[:8]}", uuid4().hex
    with keycloak_admin(deployment) as admin:
        created = admin.post(
            "/users",
            json={
                "username": username,
                "enabled": True,
                "email": f"{username}@example.test",
                "emailVerified": True,
                "firstName": "Audit",
                "lastName": "Reader",
                "attributes": {"tenant_id": [tenant]},
                "credentials": [{"type": "password", "value": password, "temporary": False}],
            },
        )
        assert created.status_code == 201, created.text
        user_id = created.headers["location"].rsplit("/", 1)[1]
        role = admin.get("/roles/tenant_admin")
        role.raise_for_status()
        admin.post(f"/users/{user_id}/role-mappings/realm", json=[role.json()]).raise_for_status()
    token = httpx2.post(
        f"{keycloak.url}/realms/{deployment.outputs.realm}/protocol/openid-connect/token",
        data={"grant_type": "password", "client_id": "in-falcone-cli", "username": username, "password": password},
    )
    assert token.status_code == 200, token.text
    return str(token.json()["access_token"])


async def test_a_real_tenant_admin_token_sees_only_its_tenant(
    pool: asyncpg.Pool, platform_deployment: PlatformDeployment, trail: dict[str, Any]
) -> None:
    keycloak = platform_deployment.backends.keycloak
    assert keycloak is not None
    token = await asyncio.to_thread(logged_in_tenant_admin, platform_deployment, trail["acme"])
    verifier = TokenVerifier.for_realm(keycloak.url, platform_deployment.outputs.realm)
    try:
        async with client(audit_app(pool, verifier)) as http:
            own = await listing(http, token, limit=200)
            assert [item["eventId"] for item in own] == list(reversed(trail["acme_ids"]))
            foreign = await http.get("/v1/audit", params={"tenant": trail["other"]}, headers=bearer(token))
            assert foreign.status_code == 404
            tampered = await http.get("/v1/audit", headers=bearer(token[:-4] + "AAAA"))
            assert tampered.status_code == 401
    finally:
        await verifier.aclose()
