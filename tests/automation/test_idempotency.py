"""`Idempotency-Key` on POST, with records in the session's metadata database: a retry replays the first answer,
another request under the same key is a 422, a concurrent one a 409; records belong to their subject.

The endpoint under test does real work (an audit row per call) so "ran once" is counted in the database. Tokens
are verified by a stand-in (the middleware and `current_principal` call `app.state.verifier` as in the service).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any
from uuid import uuid4

import asyncpg
import httpx2
import pytest
from fastapi import FastAPI, Request, Response
from pydantic import BaseModel, ConfigDict

from automation import auth
from automation.audit import service as audit
from automation.auth import CurrentPrincipal, Principal, Unauthenticated
from automation.db import Transaction, create_pool
from automation.idempotency import IdempotencyMiddleware
from falcone.http import problems
from falcone.http.middleware import BodyLimitMiddleware, CorrelationIdMiddleware, correlation_id
from falcone.http.problems import Problem
from tests.platform_stack_fixtures import PlatformDeployment

pytestmark = [pytest.mark.toolchain, pytest.mark.platform]

PROBLEM = "application/problem+json"
MAX_BODY = 4096


class StandInVerifier:
    def __init__(self, principals: dict[str, Principal]) -> None:
        self.principals = principals

    async def verify(self, token: str) -> Principal:
        try:
            return self.principals[token]
        except KeyError:
            raise Unauthenticated("not a token of this test") from None


class Thing(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    fail: bool = False


class Service:
    """What the endpoints do, and a way for a test to hold a request in flight."""

    def __init__(self) -> None:
        self.tenant = f"t{uuid4().hex[:10]}"
        self.entered = asyncio.Event()
        self.release = asyncio.Event()
        self.release.set()
        self.failures_left = 0


def idempotent_app(pool: asyncpg.Pool, principals: dict[str, Principal], work: Service) -> FastAPI:
    app = FastAPI()
    problems.install(app)
    auth.install(app)
    app.state.pool, app.state.verifier = pool, StandInVerifier(principals)

    @app.post("/v1/things", status_code=201)
    async def create_thing(
        body: Thing, request: Request, principal: CurrentPrincipal, connection: Transaction
    ) -> dict[str, Any]:
        work.entered.set()
        await work.release.wait()
        if body.fail or work.failures_left:
            work.failures_left = max(work.failures_left - 1, 0)
            raise RuntimeError("the work broke")
        if body.name == "taken":
            raise Problem(409, "a thing of that name exists")
        event_id = await audit.record(
            connection,
            actor=principal.audit_actor(),
            action="thing.create",
            resource_type="thing",
            resource_id=body.name,
            tenant_id=work.tenant,
            outcome="success",
            correlation_id=correlation_id(request),
        )
        return {"id": event_id, "name": body.name}

    @app.post("/v1/other-things", status_code=201)
    async def create_other_thing(body: Thing, principal: CurrentPrincipal) -> dict[str, str]:
        return {"name": body.name, "by": principal.subject}

    @app.post("/v1/secrets", status_code=201)
    async def create_secret(body: Thing, principal: CurrentPrincipal, response: Response) -> dict[str, str]:
        response.headers["Cache-Control"] = "no-store"
        return {"name": body.name, "secret": f"flc_service_{principal.subject}-only-once"}

    @app.get("/v1/things")
    async def list_things(principal: CurrentPrincipal) -> dict[str, str]:
        return {"by": principal.subject}

    # The order create_app uses: correlation id, body limit, idempotency (innermost).
    app.add_middleware(IdempotencyMiddleware)
    app.add_middleware(BodyLimitMiddleware, max_bytes=MAX_BODY)
    app.add_middleware(CorrelationIdMiddleware)
    return app


@pytest.fixture(scope="module")
async def pool(platform_deployment: PlatformDeployment) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(platform_deployment.metadata_dsn("automation"))
    yield pool
    await pool.close()


ALICE = Principal(subject=str(uuid4()), username="alice", roles=frozenset(), tenant_id=None, workspace_id=None)
BOB = Principal(subject=str(uuid4()), username="bob", roles=frozenset(), tenant_id=None, workspace_id=None)


@pytest.fixture
def work() -> Service:
    return Service()


@pytest.fixture
async def http(pool: asyncpg.Pool, work: Service) -> AsyncIterator[httpx2.AsyncClient]:
    app = idempotent_app(pool, {"alice": ALICE, "bob": BOB}, work)
    transport = httpx2.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx2.AsyncClient(transport=transport, base_url="http://automation") as http:
        yield http


def headers(token: str | None, key: str | None) -> dict[str, str]:
    return {
        **({"Authorization": f"Bearer {token}"} if token else {}),
        **({"Idempotency-Key": key} if key else {}),
    }


def new_key() -> str:
    return f"key-{uuid4()}"


async def things_done(pool: asyncpg.Pool, work: Service) -> int:
    async with pool.acquire() as connection:
        count: int = await connection.fetchval(
            "SELECT count(*) FROM audit_events WHERE tenant_id = $1 AND action = 'thing.create'", work.tenant
        )
    return count


async def record_of(pool: asyncpg.Pool, subject: str, key: str) -> dict[str, Any] | None:
    async with pool.acquire() as connection:
        row = await connection.fetchrow(
            "SELECT * FROM idempotency_records WHERE subject = $1 AND key = $2", subject, key
        )
    return dict(row) if row is not None else None


async def test_a_retry_with_the_same_key_replays_the_first_answer(
    http: httpx2.AsyncClient, pool: asyncpg.Pool, work: Service
) -> None:
    key = new_key()
    first = await http.post("/v1/things", json={"name": "a"}, headers=headers("alice", key))
    assert first.status_code == 201
    assert "idempotency-replayed" not in first.headers
    retry = await http.post(
        "/v1/things", json={"name": "a"}, headers={**headers("alice", key), "X-Correlation-Id": "corr-retry"}
    )
    assert retry.status_code == 201
    assert retry.headers["idempotency-replayed"] == "true"
    assert retry.json() == first.json()
    assert retry.headers["content-type"] == first.headers["content-type"]
    assert retry.headers["x-correlation-id"] == "corr-retry"  # this request's id; the body is the first's
    assert await things_done(pool, work) == 1
    # Without a key, every POST is new work.
    for _ in range(2):
        assert (await http.post("/v1/things", json={"name": "b"}, headers=headers("alice", None))).status_code == 201
    assert await things_done(pool, work) == 3


async def test_refusals_are_replayed_too(http: httpx2.AsyncClient, pool: asyncpg.Pool, work: Service) -> None:
    key = new_key()
    first = await http.post("/v1/things", json={"name": "taken"}, headers=headers("alice", key))
    assert (first.status_code, first.headers["content-type"]) == (409, PROBLEM)
    retry = await http.post("/v1/things", json={"name": "taken"}, headers=headers("alice", key))
    assert (retry.status_code, retry.json()) == (409, first.json())
    assert retry.headers["idempotency-replayed"] == "true"
    invalid = await http.post("/v1/things", json={"nam": "x"}, headers=headers("alice", key := new_key()))
    assert invalid.status_code == 422
    again = await http.post("/v1/things", json={"nam": "x"}, headers=headers("alice", key))
    assert (again.status_code, again.headers["idempotency-replayed"]) == (422, "true")
    assert await things_done(pool, work) == 0


async def test_the_same_key_with_another_request_is_a_422(
    http: httpx2.AsyncClient, pool: asyncpg.Pool, work: Service
) -> None:
    key = new_key()
    assert (await http.post("/v1/things", json={"name": "a"}, headers=headers("alice", key))).status_code == 201
    for path, body in (("/v1/things", {"name": "b"}), ("/v1/other-things", {"name": "a"})):
        reused = await http.post(path, json=body, headers=headers("alice", key))
        assert (reused.status_code, reused.headers["content-type"]) == (422, PROBLEM)
        assert reused.json()["type"].endswith("/idempotency-key-reused")
        assert "another request" in reused.json()["detail"]
    assert await things_done(pool, work) == 1


async def test_a_concurrent_request_with_the_same_key_is_a_409_until_the_first_answers(
    http: httpx2.AsyncClient, pool: asyncpg.Pool, work: Service
) -> None:
    key = new_key()
    work.release.clear()
    first = asyncio.create_task(http.post("/v1/things", json={"name": "slow"}, headers=headers("alice", key)))
    try:
        await asyncio.wait_for(work.entered.wait(), 30)
        concurrent = await http.post("/v1/things", json={"name": "slow"}, headers=headers("alice", key))
        assert (concurrent.status_code, concurrent.headers["content-type"]) == (409, PROBLEM)
        assert concurrent.headers["retry-after"] == "1"
        assert concurrent.json()["type"].endswith("/idempotency-key-in-flight")
    finally:
        work.release.set()
    answered = await first
    assert answered.status_code == 201
    replayed = await http.post("/v1/things", json={"name": "slow"}, headers=headers("alice", key))
    assert (replayed.status_code, replayed.json()) == (201, answered.json())
    assert await things_done(pool, work) == 1


async def test_another_subject_reusing_a_key_never_gets_the_first_subjects_answer(
    http: httpx2.AsyncClient, pool: asyncpg.Pool, work: Service
) -> None:
    key = new_key()
    alices = await http.post("/v1/other-things", json={"name": "a"}, headers=headers("alice", key))
    assert alices.json()["by"] == ALICE.subject
    # Positive control: Alice's retry is a replay.
    alice_again = await http.post("/v1/other-things", json={"name": "a"}, headers=headers("alice", key))
    assert alice_again.headers["idempotency-replayed"] == "true"
    bobs = await http.post("/v1/other-things", json={"name": "a"}, headers=headers("bob", key))
    assert bobs.status_code == 201
    assert "idempotency-replayed" not in bobs.headers
    assert bobs.json()["by"] == BOB.subject
    # Nor is Bob refused because Alice used the key with another body.
    other_body = await http.post("/v1/other-things", json={"name": "z"}, headers=headers("bob", new_key()))
    assert other_body.status_code == 201


async def test_requests_without_a_valid_token_are_not_recorded(http: httpx2.AsyncClient, pool: asyncpg.Pool) -> None:
    key = new_key()
    for token in (None, "forged"):
        refused = await http.post("/v1/things", json={"name": "a"}, headers=headers(token, key))
        assert (refused.status_code, refused.headers["content-type"]) == (401, PROBLEM)
    async with pool.acquire() as connection:
        assert await connection.fetchval("SELECT count(*) FROM idempotency_records WHERE key = $1", key) == 0


async def test_a_server_error_is_not_stored_and_the_retry_runs(
    http: httpx2.AsyncClient, pool: asyncpg.Pool, work: Service
) -> None:
    key = new_key()
    work.failures_left = 1
    broken = await http.post("/v1/things", json={"name": "a"}, headers=headers("alice", key))
    assert broken.status_code == 500
    assert await record_of(pool, ALICE.subject, key) is None
    retried = await http.post("/v1/things", json={"name": "a"}, headers=headers("alice", key))
    assert retried.status_code == 201
    assert "idempotency-replayed" not in retried.headers
    assert await things_done(pool, work) == 1


async def test_records_expire_after_24_hours_and_abandoned_claims_after_the_lease(
    http: httpx2.AsyncClient, pool: asyncpg.Pool, work: Service
) -> None:
    expired, abandoned, stale_other = new_key(), new_key(), new_key()
    for key in (expired, stale_other):
        assert (await http.post("/v1/things", json={"name": "a"}, headers=headers("alice", key))).status_code == 201
    async with pool.acquire() as connection:
        await connection.execute(
            "UPDATE idempotency_records SET created_at = now() - interval '25 hours' WHERE key = ANY($1::text[])",
            [expired, stale_other],
        )
        # A claim whose request died (no answer) ten minutes ago.
        await connection.execute(
            """INSERT INTO idempotency_records (subject, key, method, path, body_hash, created_at)
               VALUES ($1, $2, 'POST', '/v1/things', 'x', now() - interval '10 minutes')""",
            ALICE.subject,
            abandoned,
        )
    for key in (expired, abandoned):
        again = await http.post("/v1/things", json={"name": "a"}, headers=headers("alice", key))
        assert again.status_code == 201
        assert "idempotency-replayed" not in again.headers
    assert await things_done(pool, work) == 4
    # The periodic purge removes other expired records (a fresh middleware purges on its first claim).
    fresh = idempotent_app(pool, {"alice": ALICE}, work)
    transport = httpx2.ASGITransport(app=fresh)
    async with httpx2.AsyncClient(transport=transport, base_url="http://automation") as client:
        await client.post("/v1/other-things", json={"name": "a"}, headers=headers("alice", new_key()))
    assert await record_of(pool, ALICE.subject, stale_other) is None


async def test_a_malformed_key_is_a_400(http: httpx2.AsyncClient) -> None:
    for key in (b"has space", b"x" * 256, "é".encode("latin-1"), b'"unbalanced'):
        response = await http.post(
            "/v1/things", json={"name": "a"}, headers={b"Authorization": b"Bearer alice", b"Idempotency-Key": key}
        )
        assert (response.status_code, response.headers["content-type"]) == (400, PROBLEM)
        assert "Idempotency-Key" in response.json()["detail"]
    quoted = await http.post("/v1/other-things", json={"name": "a"}, headers=headers("alice", '"quoted-key-1"'))
    assert quoted.status_code == 201


async def test_an_oversized_body_is_a_413_and_not_recorded(http: httpx2.AsyncClient, pool: asyncpg.Pool) -> None:
    key = new_key()

    async def chunks() -> AsyncIterator[bytes]:  # no content-length: the limit applies while reading
        for _ in range(MAX_BODY // 1024 + 2):
            yield b" " * 1024

    response = await http.post(
        "/v1/things", content=chunks(), headers={**headers("alice", key), "content-type": "application/json"}
    )
    assert (response.status_code, response.headers["content-type"]) == (413, PROBLEM)
    assert await record_of(pool, ALICE.subject, key) is None


async def test_other_methods_ignore_the_key(http: httpx2.AsyncClient, pool: asyncpg.Pool) -> None:
    key = new_key()
    for _ in range(2):
        response = await http.get("/v1/things", headers=headers("alice", key))
        assert response.status_code == 200
        assert "idempotency-replayed" not in response.headers
    assert await record_of(pool, ALICE.subject, key) is None


async def test_the_answer_is_stored_before_the_client_gets_it(http: httpx2.AsyncClient, pool: asyncpg.Pool) -> None:
    key = new_key()
    first = await http.post("/v1/other-things", json={"name": "a"}, headers=headers("alice", key))
    stored = await record_of(pool, ALICE.subject, key)
    assert stored is not None
    assert (stored["status_code"], bytes(stored["response_body"])) == (201, first.content)
    assert stored["method"] == "POST"
    assert stored["path"] == "/v1/other-things"


async def test_a_secret_shown_once_is_never_stored_nor_replayed(http: httpx2.AsyncClient, pool: asyncpg.Pool) -> None:
    key = new_key()
    first = await http.post("/v1/secrets", json={"name": "k"}, headers=headers("alice", key))
    assert first.status_code == 201
    assert "only-once" in first.json()["secret"]
    record = await record_of(pool, ALICE.subject, key)
    assert record is not None
    assert b"only-once" not in (record["response_body"] or b"")
    retry = await http.post("/v1/secrets", json={"name": "k"}, headers=headers("alice", key))
    assert retry.status_code == 410
    assert "only-once" not in retry.text
    assert "shown only once" in retry.json()["detail"]
