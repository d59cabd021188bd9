"""The local platform's endpoints as the stacks' `falcone:backends` config."""

from __future__ import annotations

from components.connections import (
    Backends,
    KafkaConnection,
    KeycloakConnection,
    MinioConnection,
    MongoConnection,
    PostgresConnection,
    VaultConnection,
)
from localplatform.endpoints import PlatformEndpoints


def backends_from_endpoints(endpoints: PlatformEndpoints) -> Backends:
    pg, kc, kafka, minio, bao, mongo = (
        endpoints.postgres,
        endpoints.keycloak,
        endpoints.kafka,
        endpoints.minio,
        endpoints.openbao,
        endpoints.mongo,
    )
    return Backends(
        postgres=PostgresConnection(dsn=pg.dsn) if pg else None,
        keycloak=KeycloakConnection(
            url=kc.url,
            admin_user=kc.admin_user,
            admin_password=kc.admin_password,
            admin_realm=kc.admin_realm,
            admin_client_id=kc.admin_client_id,
        )
        if kc
        else None,
        kafka=KafkaConnection(
            bootstrap_servers=kafka.bootstrap_servers,
            admin_user=kafka.admin_user,
            admin_password=kafka.admin_password,
            security_protocol=kafka.security_protocol,
            sasl_mechanism=kafka.sasl_mechanism,
        )
        if kafka
        else None,
        minio=MinioConnection(
            endpoint_url=minio.endpoint_url,
            access_key=minio.access_key,
            secret_key=minio.secret_key,
            region=minio.region,
        )
        if minio
        else None,
        vault=VaultConnection(address=bao.url, token=bao.root_token) if bao else None,
        mongo=MongoConnection(uri=mongo.uri) if mongo else None,
    )
