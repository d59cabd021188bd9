"""The local Kubernetes control plane's credentials: a CA, serving and client certificates, the service-account
signing key and kubeconfigs, generated once into ``<data_dir>/kubernetes/`` (git-ignored) with `cryptography`.

The admin credential is a client certificate in the ``system:masters`` group (what kubeadm's admin.conf holds);
the controller manager authenticates as ``system:kube-controller-manager``, which the API server's bootstrap RBAC
policy knows. Certificates are valid for ten years: this is a development platform whose data directory is
thrown away long before, and no rotation machinery is worth having here.
"""

import datetime
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from components.connections import KubernetesConnection
from localplatform import process
from localplatform.settings import PlatformSettings

VALIDITY = datetime.timedelta(days=3650)
# The API server's in-cluster names, which a serving certificate of a real cluster carries.
SERVICE_CLUSTER_IP_RANGE = "10.96.0.0/16"
_IN_CLUSTER_NAMES = (
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
)
ADMIN_USER = "falcone-admin"
CONTROLLER_MANAGER_USER = "system:kube-controller-manager"

_PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


@dataclass(frozen=True)
class ClusterFiles:
    """Where every credential lives; `ensure` creates what is missing."""

    directory: Path

    @property
    def pki(self) -> Path:
        return self.directory / "pki"

    def cert(self, name: str) -> Path:
        return self.pki / f"{name}.crt"

    def key(self, name: str) -> Path:
        return self.pki / f"{name}.key"

    @property
    def service_account_key(self) -> Path:
        return self.pki / "sa.key"

    @property
    def service_account_public_key(self) -> Path:
        return self.pki / "sa.pub"

    @property
    def admin_kubeconfig(self) -> Path:
        return self.directory / "admin.kubeconfig"

    @property
    def controller_manager_kubeconfig(self) -> Path:
        return self.directory / "controller-manager.kubeconfig"


def files(settings: PlatformSettings) -> ClusterFiles:
    return ClusterFiles(settings.data_dir / "kubernetes")


def server_url(settings: PlatformSettings) -> str:
    return f"https://{settings.host}:{settings.kube_apiserver_port}"


def ensure(settings: PlatformSettings) -> ClusterFiles:
    """Create missing credentials (the API server and the controller manager may ask at once), then (re)write the
    kubeconfigs, which name the configured port."""
    cluster = files(settings)
    cluster.pki.mkdir(parents=True, exist_ok=True)
    with process.file_lock(cluster.pki / ".lock"):
        if not cluster.cert("ca").exists():
            new_ca_key = ec.generate_private_key(ec.SECP256R1())
            _write_key(cluster.key("ca"), new_ca_key)
            _write_cert(cluster.cert("ca"), _self_signed_ca(new_ca_key))
        ca_key = _read_key(cluster.key("ca"))
        ca_cert = x509.load_pem_x509_certificate(cluster.cert("ca").read_bytes())
        loopback = [x509.IPAddress(ipaddress.IPv4Address(settings.host)), x509.DNSName("localhost")]
        service_ip = ipaddress.IPv4Network(SERVICE_CLUSTER_IP_RANGE)[1]  # the `kubernetes` Service
        wanted = {
            "apiserver": (
                "kube-apiserver",
                None,
                [*loopback, x509.IPAddress(service_ip), *map(x509.DNSName, _IN_CLUSTER_NAMES)],
            ),
            "controller-manager-serving": ("kube-controller-manager", None, loopback),
            "admin": (ADMIN_USER, "system:masters", None),
            "controller-manager": (CONTROLLER_MANAGER_USER, None, None),
        }
        for name, (common_name, group, names) in wanted.items():
            if cluster.cert(name).exists():
                continue
            key = ec.generate_private_key(ec.SECP256R1())
            _write_key(cluster.key(name), key)
            _write_cert(cluster.cert(name), _leaf(ca_cert, ca_key, key, common_name, group, names))
        if not cluster.service_account_key.exists():
            # RS256: the algorithm every service-account token consumer supports.
            sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            cluster.service_account_public_key.write_bytes(
                sa_key.public_key().public_bytes(
                    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
                )
            )
            _write_key(cluster.service_account_key, sa_key)
        _write_kubeconfig(cluster, cluster.admin_kubeconfig, "admin", server_url(settings))
        _write_kubeconfig(cluster, cluster.controller_manager_kubeconfig, "controller-manager", server_url(settings))
    return cluster


def _write_kubeconfig(cluster: ClusterFiles, path: Path, credential: str, server: str) -> None:
    connection = KubernetesConnection(
        server=server,
        certificate_authority=cluster.cert("ca").read_text(),
        client_certificate=cluster.cert(credential).read_text(),
        client_key=cluster.key(credential).read_text(),
    )
    _write_private(path, connection.kubeconfig().encode())


def _name(common_name: str, group: str | None = None) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if group:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, group))
    return x509.Name(attributes)


def _now() -> datetime.datetime:
    # A minute back: a certificate made this second is valid for a server whose clock reads a hair earlier.
    return datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=1)


def _self_signed_ca(key: _PrivateKey) -> x509.Certificate:
    name = _name("falcone-local-kubernetes-ca")
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now())
        .not_valid_after(_now() + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )


def _leaf(
    ca_cert: x509.Certificate,
    ca_key: _PrivateKey,
    key: _PrivateKey,
    common_name: str,
    group: str | None,
    names: list[x509.GeneralName] | None,
) -> x509.Certificate:
    """A serving certificate when `names` are given, else a client certificate (CN = user, O = group)."""
    usage = ExtendedKeyUsageOID.SERVER_AUTH if names else ExtendedKeyUsageOID.CLIENT_AUTH
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name, group))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now())
        .not_valid_after(_now() + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
    )
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(ca_key, hashes.SHA256())


def _write_private(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    tmp.chmod(0o600)
    tmp.replace(path)


def _write_key(path: Path, key: _PrivateKey) -> None:
    _write_private(
        path,
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
    )


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _read_key(path: Path) -> _PrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise TypeError(f"{path}: unexpected key type {type(key).__name__}")
    return key
