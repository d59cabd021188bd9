"""How the provisioning engine reaches each backing server (admin endpoints and credentials).

Stacks read these from one secret config object, `falcone:backends` (see `Backends.from_config`); the local
platform produces it from its platform.json (`falcone.platform_config`). Dynamic providers receive the part they
need as their secret `connection` input.
"""

from __future__ import annotations

import base64
import json
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class PostgresConnection:
    """A superuser/provisioner DSN; used only by the provisioning engine, never by the data plane."""

    dsn: str


@dataclass(frozen=True)
class KeycloakConnection:
    url: str
    admin_user: str
    admin_password: str
    admin_realm: str = "master"
    admin_client_id: str = "admin-cli"


@dataclass(frozen=True)
class KafkaConnection:
    bootstrap_servers: str
    admin_user: str
    admin_password: str
    security_protocol: str = "SASL_PLAINTEXT"
    sasl_mechanism: str = "SCRAM-SHA-256"

    def client_settings(self, user: str | None = None, password: str | None = None) -> dict[str, str]:
        """Keyword arguments for kafka-python and aiokafka clients: as the admin, or as `user`."""
        return {
            "bootstrap_servers": self.bootstrap_servers,
            "security_protocol": self.security_protocol,
            "sasl_mechanism": self.sasl_mechanism,
            "sasl_plain_username": user or self.admin_user,
            "sasl_plain_password": password or self.admin_password,
        }


@dataclass(frozen=True)
class MinioConnection:
    endpoint_url: str
    access_key: str
    secret_key: str
    region: str = "us-east-1"


@dataclass(frozen=True)
class VaultConnection:
    address: str
    token: str


@dataclass(frozen=True)
class MongoConnection:
    uri: str


@dataclass(frozen=True)
class KubernetesConnection:
    """An API server and an admin client certificate (PEM texts, so the config needs no files)."""

    server: str
    certificate_authority: str
    client_certificate: str
    client_key: str

    def kubeconfig(self) -> str:
        """The credential as a one-context kubeconfig (JSON is valid kubeconfig YAML)."""

        def b64(pem: str) -> str:
            return base64.b64encode(pem.encode()).decode()

        cluster = {"server": self.server, "certificate-authority-data": b64(self.certificate_authority)}
        user = {"client-certificate-data": b64(self.client_certificate), "client-key-data": b64(self.client_key)}
        return json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "falcone", "cluster": cluster}],
                "users": [{"name": "falcone", "user": user}],
                "contexts": [{"name": "falcone", "context": {"cluster": "falcone", "user": "falcone"}}],
                "current-context": "falcone",
            },
            indent=2,
        )


@dataclass(frozen=True)
class Backends:
    postgres: PostgresConnection | None = None
    keycloak: KeycloakConnection | None = None
    kafka: KafkaConnection | None = None
    minio: MinioConnection | None = None
    vault: VaultConnection | None = None
    mongo: MongoConnection | None = None
    # Optional: without an API server the Kubernetes provider renders manifests to a directory instead.
    kubernetes: KubernetesConnection | None = None

    @classmethod
    def from_config(cls, value: dict[str, Any]) -> Backends:
        kinds: dict[str, Any] = {
            "postgres": PostgresConnection,
            "keycloak": KeycloakConnection,
            "kafka": KafkaConnection,
            "minio": MinioConnection,
            "vault": VaultConnection,
            "mongo": MongoConnection,
            "kubernetes": KubernetesConnection,
        }
        unknown = set(value) - set(kinds)
        if unknown:
            raise ValueError(f"falcone:backends has unknown keys: {', '.join(sorted(unknown))}")
        return cls(**{name: kinds[name](**fields) for name, fields in value.items() if fields is not None})

    def to_config(self) -> dict[str, Any]:
        return {name: fields for name, fields in asdict(self).items() if fields is not None}
