"""The executor's settings, from the environment (FALCONE_EXECUTOR_*)."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class ExecutorSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FALCONE_EXECUTOR_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=18500, ge=1, le=65535)
    workers: int = Field(default=1, ge=1, le=64)
    log_level: str = "info"
    # Seed 003: 1 MB for data requests.
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)

    # The metadata database as the `keys` login: it may read api_keys, workspaces and tenants, nothing else.
    metadata_dsn: SecretStr = SecretStr("")
    metadata_pool_size: int = Field(default=4, ge=1, le=50)
    # Revocation takes effect within this many seconds (a cached lookup is trusted that long, found or not).
    key_cache_ttl_s: float = Field(default=5.0, ge=0, le=60)
    key_cache_size: int = Field(default=10_000, ge=1)

    # Workspace credentials: KV v2 `{vault_mount}/workspace/{tenant}/{workspace}/database`, read with a token of
    # the `executor-policy`.
    vault_address: str = "http://127.0.0.1:18200"
    vault_token: SecretStr = SecretStr("")
    vault_mount: str = "secret"
    # Where the workspace databases are served (the credentials in Vault name the database, not the server).
    postgres_host: str = "127.0.0.1"
    postgres_port: int = Field(default=5432, ge=1, le=65535)
    # Connections per workspace pool, and how many workspace pools stay open (least recently used closed first).
    pool_size: int = Field(default=10, ge=1, le=200)
    max_pools: int = Field(default=32, ge=1)
    statement_timeout_ms: int = Field(default=10_000, ge=100)
    # Rows one request reads at most (a larger `limit` is clamped, as PostgREST's db-max-rows does).
    max_rows: int = Field(default=1000, ge=1)
    # A table's columns are read from the catalogue and trusted this long.
    catalog_ttl_s: float = Field(default=30.0, ge=0)

    # Where the workspace Mongo databases are served, without credentials: each workspace's client logs in as
    # the workspace's own user (Vault `documents`). `max_rows` bounds the documents of one response too.
    mongo_url: str = "mongodb://127.0.0.1:27017"
    mongo_pool_size: int = Field(default=10, ge=1, le=200)
    mongo_max_clients: int = Field(default=32, ge=1)
    mongo_timeout_ms: int = Field(default=10_000, ge=100)
    # A page of documents ends early past this many bytes of JSON (its cursor continues from there).
    mongo_max_response_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)

    # Object storage (/v1/objects): MinIO's S3 endpoint, called with each workspace's own access key.
    s3_endpoint: str = "http://127.0.0.1:9000"
    # The endpoint presigned URLs name (they are signed for their host); unset: s3_endpoint.
    s3_public_endpoint: str | None = None
    s3_region: str = "us-east-1"
    # Bytes one upload through the executor may hold (it is buffered; the plan's storage_bytes bounds it too).
    # Larger objects go through presigned PUT URLs, straight to the object store.
    max_object_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
    presign_max_expiry_s: int = Field(default=7 * 24 * 3600, ge=1, le=7 * 24 * 3600)
    # Workspace S3 clients kept open (least recently used closed first), connections and timeout of each.
    max_storage_clients: int = Field(default=32, ge=1)
    storage_connections: int = Field(default=10, ge=1, le=200)
    storage_timeout_s: float = Field(default=30.0, gt=0)
    # A shared-bucket workspace's stored bytes are listed again after this many seconds (its quota check).
    storage_usage_ttl_s: float = Field(default=30.0, ge=0)

    # Events (/v1/events): the Kafka brokers; each workspace logs in as its own SCRAM principal (Vault `events`).
    kafka_bootstrap: str = "127.0.0.1:9092"
    kafka_security_protocol: str = "SASL_PLAINTEXT"
    kafka_sasl_mechanism: str = "SCRAM-SHA-256"
    # How long the brokers may take to connect, to acknowledge a publish (all in-sync replicas) or to position a
    # subscription: past it the answer is a 503 with Retry-After, never a 2xx.
    kafka_timeout_s: float = Field(default=10.0, gt=0, le=300)
    # A subscription with a consumer group may also wait this long for the group to assign it partitions.
    kafka_group_join_s: float = Field(default=30.0, ge=0, le=300)
    kafka_retry_after_s: int = Field(default=5, ge=1, le=3600)
    # Workspace producers kept open (least recently used closed first); a workspace's topic list is trusted this
    # long (a topic its stack adds is found within it).
    max_producers: int = Field(default=32, ge=1)
    topics_ttl_s: float = Field(default=10.0, ge=0)
    # Subscriptions: a heartbeat after this much silence (it also finds dead connections), and at most this many
    # open per workspace on one executor process (429 beyond).
    subscribe_heartbeat_s: float = Field(default=15.0, gt=0)
    max_subscriptions: int = Field(default=16, ge=1)

    # Realtime (/v1/realtime, heartbeats as above): LISTEN connections this process holds at most (one per
    # subscribed workspace; 503 beyond), subscriptions of one workspace on it (429 beyond), changes one subscriber
    # may have pending (beyond, its stream ends with an error), and a stream's longest life (then it ends and the
    # client subscribes again).
    realtime_max_workspaces: int = Field(default=64, ge=1)
    realtime_max_subscriptions: int = Field(default=64, ge=1)
    realtime_queue_size: int = Field(default=1000, ge=1)
    realtime_max_stream_s: float = Field(default=3600.0, gt=0)

    # Bearer JWTs: issuer `{keycloak_url}/realms/{realm}`, the realm taken from the tenant registry.
    keycloak_url: str = "http://127.0.0.1:18080"
    jwks_ttl_s: float = Field(default=300.0, ge=1)

    # Scales every plan's per-credential limit (api_calls_per_minute): headroom for load tests or a generous
    # platform; the gateway in front applies the plan's own figure too.
    rate_limit_multiplier: float = Field(default=1.0, gt=0)

    # Identity headers (x-tenant-id, ...) are trusted only on requests that carry this secret in
    # `x-gateway-secret` and no credential. Unset: never trusted.
    gateway_secret: SecretStr | None = None

    def as_environment(self) -> dict[str, str]:
        """These settings as the environment `python -m executor` reads them back from (unset ones left out)."""
        prefix = self.model_config.get("env_prefix", "")
        environment = {}
        for name, value in self.model_dump().items():
            if value is not None:
                plain = value.get_secret_value() if isinstance(value, SecretStr) else value
                environment[f"{prefix}{name.upper()}"] = str(plain)
        return environment
