"""The local platform's endpoints as the stacks' `falcone:backends` config."""

from __future__ import annotations

from components.connections import (
    Backends,
    KafkaConnection,
    KeycloakConnection,
    KubernetesConnection,
    MinioConnection,
    MongoConnection,
    PostgresConnection,
    VaultConnection,
)
from localplatform.endpoints import KubernetesEndpoint, PlatformEndpoints


def backends_from_endpoints(endpoints: PlatformEndpoints) -> Backends:
    """Keycloak, Kafka and MinIO endpoints carry the connection's own field names; the others are derived."""
    pg, kc, kafka, minio, bao, mongo, kube = (
        endpoints.postgres,
        endpoints.keycloak,
        endpoints.kafka,
        endpoints.minio,
        endpoints.openbao,
        endpoints.mongo,
        endpoints.kubernetes,
    )
    return Backends(
        postgres=PostgresConnection(dsn=pg.dsn) if pg else None,
        keycloak=KeycloakConnection(**kc.model_dump()) if kc else None,
        kafka=KafkaConnection(**kafka.model_dump()) if kafka else None,
        minio=MinioConnection(**minio.model_dump(exclude={"console_url"})) if minio else None,
        vault=VaultConnection(address=bao.url, token=bao.root_token) if bao else None,
        mongo=MongoConnection(uri=mongo.uri) if mongo else None,
        kubernetes=_kubernetes(kube) if kube else None,
    )


def _kubernetes(endpoint: KubernetesEndpoint) -> KubernetesConnection:
    """The admin credential's files, read into the connection (stacks get PEM texts, not paths)."""
    return KubernetesConnection(
        server=endpoint.server,
        certificate_authority=endpoint.ca_file.read_text(),
        client_certificate=endpoint.client_certificate_file.read_text(),
        client_key=endpoint.client_key_file.read_text(),
    )
