"""Session fixtures for tests marked `platform`: the endpoints of the running local platform.

Each per-service fixture checks that its server answers; when it does not, the test fails with
one line saying how to start the platform (no traceback).
"""

import ssl
from collections.abc import Callable, Iterator
from typing import TypeVar
from urllib.parse import urlsplit

import httpx2
import pytest

from components.connections import Backends
from falcone.platform_config import backends_from_endpoints
from localplatform import endpoints
from localplatform.endpoints import (
    KafkaEndpoint,
    KeycloakEndpoint,
    KubernetesEndpoint,
    MinioEndpoint,
    MongoEndpoint,
    OpenBaoEndpoint,
    PlatformEndpoints,
    PostgresEndpoint,
)
from localplatform.ports import port_accepts
from localplatform.settings import PlatformSettings

START_HINT = "start the platform: scripts/platform start"
E = TypeVar("E")


@pytest.fixture(scope="session")
def platform_endpoints() -> PlatformEndpoints:
    path = PlatformSettings().platform_file
    if not path.exists():
        pytest.fail(f"no {path}; {START_HINT}", pytrace=False)
    try:
        return endpoints.load(path)
    except ValueError as err:  # pydantic ValidationError / bad JSON
        problem = str(err)
    # Outside the except block, so pytest shows one line, not a chained traceback.
    pytest.fail(f"{path} is unreadable ({problem.splitlines()[0]}); {START_HINT}", pytrace=False)


def _url_address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or (443 if parts.scheme == "https" else 80)


def _require(name: str, endpoint: E | None, address: Callable[[E], tuple[str, int]]) -> E:
    if endpoint is None:
        pytest.fail(f"{name} is not running; {START_HINT}", pytrace=False)
    host, port = address(endpoint)
    if not port_accepts(host, port, timeout=2.0):
        pytest.fail(f"{name} does not answer on {host}:{port}; {START_HINT}", pytrace=False)
    return endpoint


@pytest.fixture(scope="session")
def postgres_endpoint(platform_endpoints: PlatformEndpoints) -> PostgresEndpoint:
    return _require("postgres", platform_endpoints.postgres, lambda ep: (ep.host, ep.port))


@pytest.fixture(scope="session")
def keycloak_endpoint(platform_endpoints: PlatformEndpoints) -> KeycloakEndpoint:
    return _require("keycloak", platform_endpoints.keycloak, lambda ep: _url_address(ep.url))


@pytest.fixture(scope="session")
def kafka_endpoint(platform_endpoints: PlatformEndpoints) -> KafkaEndpoint:
    return _require(
        "kafka", platform_endpoints.kafka, lambda ep: _url_address(f"//{ep.bootstrap_servers.split(',')[0]}")
    )


@pytest.fixture(scope="session")
def minio_endpoint(platform_endpoints: PlatformEndpoints) -> MinioEndpoint:
    return _require("minio", platform_endpoints.minio, lambda ep: _url_address(ep.endpoint_url))


@pytest.fixture(scope="session")
def openbao_endpoint(platform_endpoints: PlatformEndpoints) -> OpenBaoEndpoint:
    return _require("openbao", platform_endpoints.openbao, lambda ep: _url_address(ep.url))


@pytest.fixture(scope="session")
def mongo_endpoint(platform_endpoints: PlatformEndpoints) -> MongoEndpoint:
    return _require("mongo", platform_endpoints.mongo, lambda ep: (ep.host, ep.port))


@pytest.fixture(scope="session")
def kubernetes_endpoint(platform_endpoints: PlatformEndpoints) -> KubernetesEndpoint:
    return _require("kube-apiserver", platform_endpoints.kubernetes, lambda ep: _url_address(ep.server))


@pytest.fixture
def kubernetes_api(kubernetes_endpoint: KubernetesEndpoint) -> Iterator[httpx2.Client]:
    """The API server as the platform's admin (client certificate), checking the server against our CA."""
    ep = kubernetes_endpoint
    context = ssl.create_default_context(cafile=str(ep.ca_file))
    context.load_cert_chain(str(ep.client_certificate_file), str(ep.client_key_file))
    with httpx2.Client(base_url=ep.server, verify=context, timeout=30.0) as client:
        yield client


@pytest.fixture(scope="session")
def backends(platform_endpoints: PlatformEndpoints) -> Backends:
    """Admin connections of every running server, as the stacks receive them."""
    return backends_from_endpoints(platform_endpoints)
