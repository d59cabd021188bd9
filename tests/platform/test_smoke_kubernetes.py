"""kube-apiserver (built from its Go module) on etcd, with the controller manager: the version we pinned, a
namespace created, read and deleted with the admin credential (deletion needs the namespace controller),
validation by the server, and authentication and RBAC refusing who they should."""

import datetime
import ssl
from pathlib import Path
from uuid import uuid4

import httpx2
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from falcone import toolchain
from localplatform import process
from localplatform.endpoints import KubernetesEndpoint

# kubernetes_endpoint and the admin client kubernetes_api: tests/platform_fixtures.py
pytestmark = pytest.mark.platform


def _client(endpoint: KubernetesEndpoint, cert: tuple[Path, Path] | None = None) -> httpx2.Client:
    context = ssl.create_default_context(cafile=str(endpoint.ca_file))
    if cert is not None:
        context.load_cert_chain(str(cert[0]), str(cert[1]))
    return httpx2.Client(base_url=endpoint.server, verify=context, timeout=30.0)


def test_version_is_the_one_built(kubernetes_api: httpx2.Client) -> None:
    response = kubernetes_api.get("/version")
    assert response.status_code == 200
    expected = toolchain.load().server("kubernetes").version
    assert response.json()["gitVersion"] == f"v{expected}"


def test_namespace_create_read_delete(kubernetes_api: httpx2.Client) -> None:
    name = f"smoke-{uuid4().hex[:8]}"
    created = kubernetes_api.post("/api/v1/namespaces", json={"metadata": {"name": name, "labels": {"smoke": "yes"}}})
    assert created.status_code == 201, created.text
    read = kubernetes_api.get(f"/api/v1/namespaces/{name}")
    assert read.status_code == 200
    assert read.json()["metadata"]["labels"]["smoke"] == "yes"
    assert read.json()["status"]["phase"] == "Active"

    assert kubernetes_api.delete(f"/api/v1/namespaces/{name}").status_code == 200
    # The namespace controller empties and finalizes it; without it the namespace would stay Terminating.
    assert process.wait_for(lambda: kubernetes_api.get(f"/api/v1/namespaces/{name}").status_code == 404, 60.0, 0.5)


def test_the_server_validates_objects(kubernetes_api: httpx2.Client) -> None:
    invalid = kubernetes_api.post("/api/v1/namespaces", json={"metadata": {"name": "Not_A_DNS_Label"}})
    assert invalid.status_code == 422
    assert invalid.json()["reason"] == "Invalid"


def test_anonymous_requests_are_refused(kubernetes_endpoint: KubernetesEndpoint, kubernetes_api: httpx2.Client) -> None:
    assert kubernetes_api.get("/api/v1/namespaces").status_code == 200  # positive control: the admin credential
    with _client(kubernetes_endpoint) as anonymous:
        assert anonymous.get("/api/v1/namespaces").status_code == 401
        assert anonymous.get("/readyz").status_code == 401


def test_a_user_without_role_bindings_is_forbidden(
    kubernetes_endpoint: KubernetesEndpoint, kubernetes_api: httpx2.Client, tmp_path: Path
) -> None:
    """RBAC is on: a valid certificate of our CA authenticates, and grants nothing by itself."""
    cert, key = _client_certificate(kubernetes_endpoint, f"smoke-nobody-{uuid4().hex[:6]}", tmp_path)
    with _client(kubernetes_endpoint, (cert, key)) as nobody:
        denied = nobody.get("/api/v1/namespaces")
    assert denied.status_code == 403
    assert denied.json()["reason"] == "Forbidden"
    assert kubernetes_api.get("/api/v1/namespaces").status_code == 200


def _client_certificate(endpoint: KubernetesEndpoint, user: str, directory: Path) -> tuple[Path, Path]:
    """A client certificate for `user`, signed by the platform's CA (its key sits next to the certificate)."""
    ca_cert = x509.load_pem_x509_certificate(endpoint.ca_file.read_bytes())
    ca_key = serialization.load_pem_private_key(endpoint.ca_file.with_suffix(".key").read_bytes(), password=None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, user)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .sign(ca_key, hashes.SHA256())
    )
    cert_path, key_path = directory / "user.crt", directory / "user.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path
