"""Schemathesis over the automation API's published OpenAPI spec: no 5xx on any input, every status documented,
every documented body matching its schema.

The app is the service's own (`create_app(settings, serve_lifecycle=False)`) given the state its lifespan would
give it, minus Pulumi: a metadata database of its own (created, migrated and dropped here), the real token verifier
of the session's platform realm, and a dispatcher that is built but never started, so whatever the fuzzer queues
stays queued. uvicorn serves it in a thread of its own on a loopback port: the asyncpg pool lives in the server's
event loop. A tenant, a workspace, operations, an application and an API key are created through the API (and
marked done with the service's repository functions, as the dispatcher would): the fuzzer draws path parameters
from them half of the time, so existing objects are exercised too, not only 404s.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx2
import pytest
import schemathesis
import uvicorn
from fastapi import FastAPI
from schemathesis import AuthContext, BaseSchema, Case
from schemathesis.core.result import Ok
from schemathesis.core.transport import Response
from schemathesis.engine import Status, events

from automation.app import create_app
from automation.audit.publisher import AuditPublisher
from automation.auth import TokenVerifier
from automation.db import create_pool
from automation.lifecycle import handlers
from automation.operations import repository as operations
from automation.operations.dispatcher import Dispatcher
from automation.operations.engine import StackEngine
from automation.settings import AutomationSettings
from automation.tenants import repository as tenants
from automation.workspaces import repository as workspaces
from falcone.http import problems
from falcone.platform_stack import PlatformOutputs
from tests.automation.api import OperatorToken
from tests.metadata_database import own_metadata_database
from tests.platform_stack_fixtures import PlatformDeployment

pytestmark = [pytest.mark.toolchain, pytest.mark.platform]

MAX_EXAMPLES = 25  # per operation and phase
SEED = 20261124  # a fixed seed: a failure found once is found again
TENANT, WORKSPACE, APPLICATION = "fuzzco", "main", "portal"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class BackgroundServer:
    """uvicorn in a thread with an event loop of its own. `prepare` runs in that loop before serving (what the
    app's requests use must belong to the loop that serves them) and `release` after."""

    def __init__(
        self, app: FastAPI, prepare: Callable[[], Awaitable[None]], release: Callable[[], Awaitable[None]]
    ) -> None:
        self.port = _free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off")
        self.server = uvicorn.Server(config)
        self.prepare, self.release = prepare, release
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="schemathesis-app", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as error:  # reported in the test's thread by start() / stop()
            self.error = error

    async def _main(self) -> None:
        await self.prepare()
        try:
            await self.server.serve()
        finally:
            await self.release()

    def start(self, timeout: float = 60) -> None:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive():
                raise RuntimeError(f"the app did not start: {self.error!r}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the app did not start in {timeout}s")
            time.sleep(0.05)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=60)
        if self.error is not None:
            raise self.error


@pytest.fixture(scope="module")
def metadata(platform_deployment: PlatformDeployment) -> Iterator[PlatformOutputs]:
    """The deployment's outputs pointing at a metadata database of this module's own."""
    with own_metadata_database(platform_deployment, "schemathesis") as outputs:
        yield outputs


@pytest.fixture(scope="module")
def served(platform_deployment: PlatformDeployment, metadata: PlatformOutputs) -> Iterator[str]:
    """The service's app with the state its lifespan gives it, except that the dispatcher never starts."""
    deployment = platform_deployment
    assert deployment.backends.keycloak is not None
    assert deployment.backends.kafka is not None
    keycloak_url, kafka = deployment.backends.keycloak.url, deployment.backends.kafka
    settings_ = AutomationSettings(
        state_dir=deployment.state_dir, work_dir=deployment.work_dir, stack_settings=deployment.settings
    )
    app = create_app(settings_, serve_lifecycle=False)

    async def prepare() -> None:
        pool = await create_pool(metadata.metadata_dsn(deployment.backends, "automation"))
        engine = StackEngine(deployment.backends, deployment.state_dir, deployment.work_dir, deployment.settings)
        app.state.platform = metadata
        app.state.pool = pool
        app.state.verifier = TokenVerifier.for_realm(keycloak_url, metadata.realm)
        # Built, never started, like the dispatcher: audit events stay in this database's outbox.
        app.state.audit_publisher = AuditPublisher(pool, kafka.client_settings(), metadata.audit_topic)
        # Built, never started: operations stay queued and no Pulumi program runs.
        app.state.dispatcher = Dispatcher(
            pool, engine, handlers(), worker=f"schemathesis-{deployment.run}", max_parallel=1
        )

    async def release() -> None:
        await app.state.verifier.aclose()
        await app.state.pool.close()

    server = BackgroundServer(app, prepare, release)
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@dataclass(frozen=True)
class Seeded:
    operations: list[str]
    api_key: str


@pytest.fixture(scope="module")
async def seeded(
    served: str, operator_token: OperatorToken, platform_deployment: PlatformDeployment, metadata: PlatformOutputs
) -> Seeded:
    """Objects for the fuzzer to find, made through the API; the dispatcher's part (a run that succeeded or
    failed) is played by its repository functions."""
    headers = {"Authorization": f"Bearer {operator_token()}"}
    async with httpx2.AsyncClient(base_url=served, headers=headers, timeout=30) as http:

        async def accepted(path: str, body: dict[str, Any]) -> str:
            response = await http.post(path, json=body)
            assert response.status_code == 202, response.text
            return str(response.json()["operations"][0]["id"])

        pool = await create_pool(metadata.metadata_dsn(platform_deployment.backends, "automation"), max_size=1)
        try:
            created = await accepted("/v1/tenants", {"slug": TENANT, "display_name": "Fuzz Co", "plan": "growth"})
            async with pool.acquire() as connection:
                await tenants.set_state(connection, TENANT, "active")
                await operations.finish(connection, created, status="succeeded", outputs={}, error=None)
            workspace = await accepted(f"/v1/tenants/{TENANT}/workspaces", {"slug": WORKSPACE, "display_name": "Main"})
            async with pool.acquire() as connection:
                await workspaces.set_state(connection, TENANT, WORKSPACE, "active")
                await operations.finish(connection, workspace, status="failed", outputs=None, error="seeded failure")
            application = await accepted(
                f"/v1/tenants/{TENANT}/workspaces/{WORKSPACE}/applications", {"name": APPLICATION}
            )
            async with pool.acquire() as connection:
                await operations.finish(connection, application, status="succeeded", outputs={}, error=None)
        finally:
            await pool.close()
        key = await http.post(
            f"/v1/tenants/{TENANT}/workspaces/{WORKSPACE}/api-keys", json={"kind": "anon", "name": "fuzz"}
        )
        assert key.status_code == 201, key.text
    # Finished operations only: the event stream of an unfinished one (follow=true) would never end.
    return Seeded([created, workspace, application], str(key.json()["id"]))


def _config(url: str, seeded: Seeded, checks: list[str], max_examples: int) -> schemathesis.Config:
    """Every operation; the examples, coverage and fuzzing phases (the spec has no links: no stateful phase); only
    `checks`; path parameters drawn from the seeded objects half of the time; a fixed seed (reproducible)."""
    return schemathesis.Config.from_dict(
        {
            "base-url": url,
            "seed": SEED,
            "request-timeout": 10,
            # No shrinking: a failure is reported as found, and the run stays bounded.
            "generation": {"max-examples": max_examples, "no-shrink": True},
            "phases": {"stateful": {"enabled": False}},
            "checks": {"enabled": False, **{name: {"enabled": True} for name in checks}},
            "dictionaries": {
                "tenants": {"values": [TENANT]},
                "workspaces": {"values": [WORKSPACE]},
                "names": {"values": [APPLICATION, "starter"]},
                "operations": {"values": seeded.operations},
                "keys": {"values": [seeded.api_key]},
            },
            "parameters": {
                # An operation learnt from a 202 stays queued here: following its events would wait forever.
                "query.follow": False,
                **{
                    f"path.{name}": {"dictionary": dictionary, "probability": 0.5}
                    for name, dictionary in (
                        ("tenant", "tenants"),
                        ("workspace", "workspaces"),
                        ("name", "names"),
                        ("operation_id", "operations"),
                        ("key", "keys"),
                    )
                },
            },
        }
    )


def _labels(schema: BaseSchema) -> set[str]:
    return {result.ok().label for result in schema.get_all_operations() if isinstance(result, Ok)}


def _load(url: str, seeded: Seeded, checks: list[str], max_examples: int) -> BaseSchema:
    return schemathesis.openapi.from_url(f"{url}/v1/openapi.json", config=_config(url, seeded, checks, max_examples))


@dataclass(frozen=True)
class Exchange:
    """One request the fuzzer sent and what came back."""

    operation: str  # "GET /v1/tenants/{tenant}"
    status: int
    content_type: str
    challenge: str  # WWW-Authenticate
    detail: str  # a problem's detail, "" otherwise
    errors: tuple[str, ...]  # a 422 problem's error types
    curl: str


@dataclass(frozen=True)
class Finding:
    check: str
    title: str
    message: str
    exchange: Exchange

    def text(self) -> str:
        return f"{self.exchange.operation} [{self.check}] {self.title}\n{self.message}\n{self.exchange.curl}"


@dataclass
class Run:
    exchanges: list[Exchange] = dataclasses.field(default_factory=list)
    findings: list[Finding] = dataclasses.field(default_factory=list)
    seconds: float = 0.0

    @property
    def operations(self) -> set[str]:
        return {exchange.operation for exchange in self.exchanges}

    def distinct(self, findings: list[Finding]) -> str:
        """One finding of each (operation, check, title, status), readable."""
        seen: dict[tuple[str, str, str, int], Finding] = {}
        for finding in findings:
            seen.setdefault(
                (finding.exchange.operation, finding.check, finding.title, finding.exchange.status), finding
            )
        return "\n\n".join(finding.text() for finding in seen.values())


def _exchange(operation: str, response: Response | None, curl: str) -> Exchange:
    if response is None:
        return Exchange(operation, 0, "", "", "no response", (), curl)
    headers = {name.lower(): values[0] for name, values in response.headers.items()}
    problem = _problem(response)
    errors = tuple(str(error.get("type")) for error in problem.get("errors", []) if isinstance(error, dict))
    return Exchange(
        operation,
        response.status_code,
        headers.get("content-type", ""),
        headers.get("www-authenticate", ""),
        str(problem.get("detail", "")),
        errors,
        curl,
    )


def run(schema: BaseSchema) -> Run:
    """Run schemathesis' engine (what `schemathesis run` runs) and keep every exchange and every failed check."""
    result, started = Run(), time.monotonic()
    for event in schemathesis.engine.from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished) and event.status is not Status.SKIP:
            recorder = event.recorder
            for case_id, interaction in recorder.interactions.items():
                case = recorder.cases[case_id].value
                curl = case.as_curl_command()
                exchange = _exchange(recorder.label, interaction.response, curl)
                result.exchanges.append(exchange)
                for node in recorder.checks.get(case_id, []):
                    if node.status is Status.FAILURE and node.failure_info is not None:
                        failure = node.failure_info.failure
                        result.findings.append(Finding(node.name, failure.title, failure.message, exchange))
        elif isinstance(event, events.NonFatalError):
            exchange = Exchange(event.label, 0, "", "", "", (), "")
            result.findings.append(Finding("error", type(event.value).__name__, str(event.value), exchange))
        elif isinstance(event, events.FatalError):
            raise event.exception
    result.seconds = time.monotonic() - started
    return result


NUL_DETAIL = "the path or query string contains a NUL character"
UNPARSABLE_BODY_DETAIL = "There was an error parsing the body"


def _problem(response: Response) -> dict[str, Any]:
    content_type = response.headers.get("content-type", [""])[0]
    if not content_type.startswith(problems.MEDIA_TYPE):
        return {}
    with contextlib.suppress(ValueError):
        body = json.loads(response.content)
        return body if isinstance(body, dict) else {}
    return {}


def test_operator_requests_get_no_server_error_and_only_documented_answers(
    served: str, seeded: Seeded, operator_token: OperatorToken
) -> None:
    checks = [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
    ]
    schema = _load(served, seeded, checks, MAX_EXAMPLES)

    @schema.auth(refresh_interval=None)
    class Operator:
        """The operator's client-credentials token (platform_admin), renewed by OperatorToken."""

        def get(self, case: Case[Any], context: AuthContext) -> str:
            return operator_token()

        def set(self, case: Case[Any], data: str, context: AuthContext) -> None:
            case.headers["Authorization"] = f"Bearer {data}"

    result = run(schema)
    print(f"operator: {len(result.exchanges)} requests, {len(result.operations)} operations, {result.seconds:.0f} s")
    assert not result.findings, f"{len(result.findings)} failed checks:\n\n{result.distinct(result.findings)}"
    assert all(exchange.status for exchange in result.exchanges), "a request got no answer in time"
    assert result.operations == _labels(schema)
    # The seeded objects were reached: not only 404s and 422s.
    assert {exchange.status for exchange in result.exchanges} >= {200, 202, 404, 409, 422}


PUBLIC = {"GET /v1/plans", "GET /v1/plans/{name}", "GET /healthz", "GET /readyz"}


def _refused_before_authentication(exchange: Exchange) -> bool:
    """Refusals that come before any credential is looked at, and act on nothing: a NUL in the URL (middleware),
    a body that is not JSON (FastAPI reads it first), a path that matches no route ('/' in a parameter)."""
    return (
        (exchange.status == 400 and exchange.detail in (NUL_DETAIL, UNPARSABLE_BODY_DETAIL))
        or (exchange.status == 422 and exchange.errors and set(exchange.errors) == {"json_invalid"})
        or (exchange.status in (404, 405) and exchange.detail in ("Not Found", "Method Not Allowed"))
    )


def test_requests_without_a_token_are_challenged_on_every_protected_operation(served: str, seeded: Seeded) -> None:
    # The spec declares the bearer scheme, so schemathesis also sends malformed Authorization headers: each must
    # be challenged too (RFC 6750: `Bearer` or `Bearer error="..."`).
    schema = _load(served, seeded, ["not_a_server_error", "response_schema_conformance"], max_examples=5)
    result = run(schema)
    print(f"no token: {len(result.exchanges)} requests, {len(result.operations)} operations, {result.seconds:.0f} s")
    assert not result.findings, result.distinct(result.findings)
    assert result.operations == _labels(schema)
    wrong = []
    for exchange in result.exchanges:
        if exchange.operation in PUBLIC:
            if exchange.status == 401:
                wrong.append(exchange)
        elif not (
            exchange.status == 401 and exchange.challenge.startswith("Bearer")
        ) and not _refused_before_authentication(exchange):
            wrong.append(exchange)
    assert not wrong, "\n".join(f"{e.operation}: {e.status} {e.detail!r}\n{e.curl}" for e in wrong[:20])
    challenged = {exchange.operation for exchange in result.exchanges if exchange.status == 401}
    assert challenged == _labels(schema) - PUBLIC


# --- the deviations, one request each --------------------------------------------------------------------------


def _documented(served: str, method: str, path: str) -> dict[str, Any]:
    spec = httpx2.get(f"{served}/v1/openapi.json").json()
    responses: dict[str, Any] = spec["paths"][path][method.lower()]["responses"]
    return responses


def test_a_nul_in_the_query_gets_a_documented_answer(served: str, operator_token: OperatorToken) -> None:
    headers = {"Authorization": f"Bearer {operator_token()}"}
    response = httpx2.get(f"{served}/v1/tenants", params={"cursor": "a\x00"}, headers=headers)
    assert response.status_code < 500
    assert str(response.status_code) in _documented(served, "GET", "/v1/tenants"), response.text


def test_a_body_that_is_not_utf8_gets_a_documented_answer(served: str, operator_token: OperatorToken) -> None:
    headers = {"Authorization": f"Bearer {operator_token()}", "Content-Type": "application/json"}
    response = httpx2.post(f"{served}/v1/tenants", content=b'{"slug": "\xff"}', headers=headers)
    assert response.status_code < 500
    assert str(response.status_code) in _documented(served, "POST", "/v1/tenants"), response.text


def test_a_422_has_the_documented_media_type(served: str, operator_token: OperatorToken) -> None:
    headers = {"Authorization": f"Bearer {operator_token()}"}
    response = httpx2.post(f"{served}/v1/tenants", json={"slug": "x"}, headers=headers)
    assert response.status_code == 422
    documented = _documented(served, "POST", "/v1/tenants")["422"].get("content", {})
    assert response.headers["content-type"] in documented, (response.headers["content-type"], list(documented))


def test_the_401_of_protected_operations_is_documented(served: str) -> None:
    response = httpx2.get(f"{served}/v1/tenants")
    assert response.status_code == 401
    spec = httpx2.get(f"{served}/v1/openapi.json").json()
    undocumented = [
        f"{method.upper()} {path}"
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if f"{method.upper()} {path}" not in PUBLIC and "401" not in operation["responses"]
    ]
    assert not undocumented, undocumented


def test_the_events_of_an_absent_operation_are_404(served: str, operator_token: OperatorToken) -> None:
    headers = {"Authorization": f"Bearer {operator_token()}"}
    response = httpx2.get(f"{served}/v1/operations/op_{'0' * 32}/events", params={"follow": "false"}, headers=headers)
    assert response.status_code == 404, (response.status_code, response.text)
