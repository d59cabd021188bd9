"""Kafka topics, SCRAM users and ACLs, through the admin API as the super user (kafka-python, SASL SCRAM).

The broker runs the StandardAuthorizer with `allow.everyone.if.no.acl.found=false`: a workspace's SCRAM user can
do exactly what its ACLs allow (prefixed `{tenant}.{workspace}.` topics and consumer groups) and nothing else.
"""

from __future__ import annotations

import ipaddress
import re
import secrets
import socket
import struct
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

import kafka.errors as errors
import pulumi
from kafka.admin import (
    ACL,
    ACLFilter,
    ACLOperation,
    ACLPermissionType,
    ACLResourcePatternType,
    AlterConfigOp,
    ConfigResource,
    ConfigResourceType,
    KafkaAdminClient,
    ResourcePattern,
    ResourcePatternFilter,
    ResourceType,
    ScramMechanism,
    UserScramCredentialDeletion,
    UserScramCredentialUpsertion,
)
from kafka.net.sasl.scram import ScramClient
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, Resource, UpdateResult

from components.connections import KafkaConnection
from components.providers.base import (
    Provider,
    diff_properties,
    resource_props,
    secret_options,
)

_TOPIC_NAME = re.compile(r"^[A-Za-z0-9._-]{1,249}$")
# SCRAM escapes `,` and `=` in user names; ours never contain them (nor anything else exotic).
_USER_NAME = re.compile(r"^[A-Za-z0-9._@+-]{1,255}$")
_PRINCIPAL = re.compile(r"^User:[A-Za-z0-9._@+-]{1,255}$")
_CONFIG_KEY = re.compile(r"^[a-z0-9.]{1,255}$")
_CLUSTER_RESOURCE = "kafka-cluster"

SCRAM_MECHANISM = "SCRAM-SHA-256"
_DELETE_WAIT_SECONDS = 30.0


@contextmanager
def _admin(props: dict[str, Any]) -> Iterator[KafkaAdminClient]:
    connection = props["connection"]
    client = KafkaAdminClient(
        bootstrap_servers=connection["bootstrap_servers"],
        security_protocol=connection.get("security_protocol") or "SASL_PLAINTEXT",
        sasl_mechanism=connection.get("sasl_mechanism") or SCRAM_MECHANISM,
        sasl_plain_username=connection["admin_user"],
        sasl_plain_password=connection["admin_password"],
        client_id="falcone-provisioner",
        bootstrap_timeout_ms=20_000,
    )
    try:
        yield client
    finally:
        client.close()


def _validated(pattern: re.Pattern[str], kind: str, value: str) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise ValueError(f"invalid Kafka {kind}: {value!r}")
    return value


def _topic_name(value: str) -> str:
    _validated(_TOPIC_NAME, "topic name", value)
    if value in (".", ".."):
        raise ValueError(f"invalid Kafka topic name: {value!r}")
    return value


# --- topics -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TopicArgs:
    name: str
    partitions: int = 1
    replication_factor: int = 1
    # Topic configs we manage, e.g. {"retention.ms": "604800000", "cleanup.policy": "delete"}.
    config: dict[str, str] = field(default_factory=dict)


def _config_value(value: Any) -> str:
    # Pulumi hands numbers over as floats and booleans as bools; Kafka wants the literal strings.
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _topic_config(props: dict[str, Any]) -> dict[str, str]:
    config = props.get("config") or {}
    return {_validated(_CONFIG_KEY, "config key", key): _config_value(value) for key, value in config.items()}


def _normal_topic(props: dict[str, Any]) -> dict[str, Any]:
    return {
        **props,
        "partitions": int(props.get("partitions") or 0),
        "replication_factor": int(props.get("replication_factor") or 0),
        "config": _topic_config(props),
    }


def _describe_topic(client: KafkaAdminClient, name: str) -> dict[str, Any] | None:
    [topic] = client.describe_topics([name])
    error = errors.for_code(topic["error_code"])
    if error is errors.UnknownTopicOrPartitionError:
        return None
    if error is not errors.NoError:
        raise error(f"describing topic {name}")
    return dict(topic)


def _live_config(client: KafkaAdminClient, name: str, keys: list[str]) -> dict[str, str]:
    """The non-default values (set on the topic) of the keys we manage; a key reset to its default is absent."""
    described = client.describe_configs([ConfigResource(ConfigResourceType.TOPIC, name)])
    entries = described.get("topic", {}).get(name, {})
    return {key: entries[key]["value"] for key in keys if key in entries and entries[key]["value"] is not None}


def _alter_topic_config(client: KafkaAdminClient, name: str, changes: dict[str, Any]) -> None:
    if not changes:
        return
    result = client.alter_configs([ConfigResource(ConfigResourceType.TOPIC, name, configs=changes)], incremental=True)
    outcome = result.get("topic", {}).get(name)
    if outcome != "OK":
        raise RuntimeError(f"altering the config of topic {name} failed: {outcome}")


def _wait_until_gone(client: KafkaAdminClient, name: str) -> None:
    # Deletion is asynchronous; a replacement with the same name must not find it "marked for deletion".
    deadline = time.monotonic() + _DELETE_WAIT_SECONDS
    while _describe_topic(client, name) is not None:
        if time.monotonic() > deadline:
            raise TimeoutError(f"topic {name} still present {_DELETE_WAIT_SECONDS:.0f}s after its deletion")
        time.sleep(0.2)


class TopicProvider(Provider):
    def create(self, props: dict[str, Any]) -> CreateResult:
        name = _topic_name(props["name"])
        with _admin(props) as client:
            try:
                client.create_topics(
                    {
                        name: {
                            "num_partitions": int(props["partitions"]),
                            "replication_factor": int(props["replication_factor"]),
                            "configs": _topic_config(props),
                        }
                    },
                    wait_for_metadata=True,
                )
            except errors.TopicAlreadyExistsError:
                return self._adopt(name, props)
        return CreateResult(id_=name, outs=props)

    def _adopt(self, name: str, props: dict[str, Any]) -> CreateResult:
        """Partitions added and declared configs set in place, records kept. What only a replacement could change
        (fewer partitions, another replication factor) is refused: dropping a topic's records is not adoption."""
        live, declared = self.read(name, props).outs or {}, _normal_topic(props)
        if (
            not live
            or live["replication_factor"] != declared["replication_factor"]
            or live["partitions"] > declared["partitions"]
        ):
            raise RuntimeError(
                f"topic {name} already exists with {live.get('partitions')} partitions and replication factor "
                f"{live.get('replication_factor')}: it cannot become the declared "
                f"{declared['partitions']} x {declared['replication_factor']} in place"
            )
        return self.adopt(name, props, live=live)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        with _admin(props) as client:
            topic = _describe_topic(client, id_)
            if topic is None:
                return ReadResult(id_="", outs={})
            partitions = sorted(topic["partitions"], key=lambda p: p["partition_index"])
            live = {
                "name": id_,
                "partitions": len(partitions),
                "replication_factor": len(partitions[0]["replica_nodes"]) if partitions else 0,
                "config": _live_config(client, id_, sorted(_topic_config(props))),
            }
        return ReadResult(id_=id_, outs={**props, **live})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        old, new = _normal_topic(olds), _normal_topic(news)
        result = diff_properties(
            old, new, updatable=["partitions", "config"], replace_on=["name", "replication_factor"]
        )
        if new["partitions"] < old["partitions"]:
            # Kafka only ever adds partitions: fewer means a new topic (and its records are gone).
            replaces = [*(result.replaces or []), "partitions"]
            return DiffResult(changes=True, replaces=replaces, delete_before_replace=True)
        return result

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        old, new = _normal_topic(olds), _normal_topic(news)
        with _admin(news) as client:
            if new["partitions"] > old["partitions"]:
                client.create_partitions({id_: new["partitions"]})
            changes: dict[str, Any] = {
                key: value for key, value in new["config"].items() if old["config"].get(key) != value
            }
            changes.update({key: (AlterConfigOp.DELETE, None) for key in old["config"] if key not in new["config"]})
            _alter_topic_config(client, id_, changes)
        return UpdateResult(outs=news)

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        with _admin(props) as client:
            try:
                client.delete_topics([id_])
            except errors.UnknownTopicOrPartitionError:
                return
            _wait_until_gone(client, id_)


class KafkaTopic(Resource):
    """A topic; more partitions and config changes are applied in place, fewer partitions replace it."""

    name: pulumi.Output[str]
    partitions: pulumi.Output[int]
    replication_factor: pulumi.Output[int]
    config: pulumi.Output[dict[str, str]]

    def __init__(
        self,
        resource_name: str,
        args: TopicArgs,
        connection: pulumi.Input[KafkaConnection],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        _topic_name(args.name)
        _topic_config({"config": args.config})
        props = resource_props(args, connection)
        super().__init__(TopicProvider(), resource_name, props, secret_options(opts))


# --- SCRAM users --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScramUserArgs:
    name: str
    password: pulumi.Input[str]  # e.g. a generated secret
    # Destroy overwrites the credential with a random password nobody knows instead of deleting it. Kafka 3.9
    # single-node KRaft loses every SCRAM credential on restart once a deletion is in its metadata log (see
    # localplatform/kafka.py), so tests against the local platform set this; production stacks keep the default.
    revoke_only: bool = False


def _bootstrap_address(connection: dict[str, Any]) -> tuple[str, int]:
    first = str(connection["bootstrap_servers"]).split(",")[0].strip()
    host, _, port = first.rpartition(":")
    return host.strip("[]") or "127.0.0.1", int(port)


def _frame(api_key: int, version: int, correlation_id: int, body: bytes) -> bytes:
    client_id = b"falcone-provisioner"
    header = struct.pack(">hhih", api_key, version, correlation_id, len(client_id)) + client_id
    return struct.pack(">i", len(header) + len(body)) + header + body


def _receive(sock: socket.socket, correlation_id: int) -> bytes:
    def exactly(count: int) -> bytes:
        data = b""
        while len(data) < count:
            chunk = sock.recv(count - len(data))
            if not chunk:
                raise ConnectionError("the broker closed the connection during SASL authentication")
            data += chunk
        return data

    (size,) = struct.unpack(">i", exactly(4))
    payload = exactly(size)
    if struct.unpack(">i", payload[:4])[0] != correlation_id:
        raise ConnectionError("unexpected correlation id in a SASL response")
    return payload[4:]


def _authenticate_step(sock: socket.socket, correlation_id: int, token: bytes) -> tuple[int, bytes]:
    # SaslAuthenticate v0: request = bytes; response = error_code, nullable error_message, bytes.
    sock.sendall(_frame(36, 0, correlation_id, struct.pack(">i", len(token)) + token))
    body = _receive(sock, correlation_id)
    error_code, message_length = struct.unpack(">hh", body[:4])
    offset = 4 + max(message_length, 0)
    (auth_length,) = struct.unpack(">i", body[offset : offset + 4])
    return error_code, body[offset + 4 : offset + 4 + max(auth_length, 0)]


def scram_password_works(connection: dict[str, Any], user: str, password: str) -> bool:
    """One SCRAM exchange with the broker, as the user: does the password authenticate?

    The broker's credential store holds only salted keys, so this is the only way to read a password back.
    kafka-python's clients turn an authentication failure into a bootstrap timeout; this answers exactly.
    """
    mechanism = connection.get("sasl_mechanism") or SCRAM_MECHANISM
    with socket.create_connection(_bootstrap_address(connection), timeout=15) as sock:
        # SaslHandshake v1: request = mechanism; response = error_code, [mechanisms].
        mechanism_bytes = mechanism.encode()
        sock.sendall(_frame(17, 1, 1, struct.pack(">h", len(mechanism_bytes)) + mechanism_bytes))
        (handshake_error,) = struct.unpack(">h", _receive(sock, 1)[:2])
        if handshake_error:
            raise errors.for_code(handshake_error)(f"SASL handshake for {mechanism}")
        client = ScramClient(user, password, mechanism)
        error_code, server_first = _authenticate_step(sock, 2, client.first_message())
        if error_code:
            return False
        client.process_server_first_message(server_first)
        error_code, server_final = _authenticate_step(sock, 3, client.final_message())
        if error_code:
            return False
        client.process_server_final_message(server_final)  # checks the server's signature too
        return True


def _upsert(client: KafkaAdminClient, name: str, password: str) -> None:
    result = client.alter_user_scram_credentials(
        [UserScramCredentialUpsertion(name, ScramMechanism.SCRAM_SHA_256, password)]
    )
    if result.get(name):
        raise RuntimeError(f"setting the SCRAM credential of {name} failed: {result[name]}")


def _has_credential(client: KafkaAdminClient, name: str) -> bool:
    described = client.describe_user_scram_credentials([name]).get(name) or {}
    if described.get("error"):
        return False  # "Attempt to describe a user credential that does not exist"
    return any(info["mechanism"] == ScramMechanism.SCRAM_SHA_256 for info in described.get("credential_infos", []))


class ScramUserProvider(Provider):
    def create(self, props: dict[str, Any]) -> CreateResult:
        name = _validated(_USER_NAME, "user name", props["name"])
        with _admin(props) as client:
            _upsert(client, name, props["password"])
        return CreateResult(id_=name, outs=props)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        with _admin(props) as client:
            if not _has_credential(client, id_):
                return ReadResult(id_="", outs={})
        live: dict[str, Any] = {"name": id_}
        # Only salted keys are stored: a password changed behind our back shows up as a changed value.
        password = props.get("password")
        if password and not scram_password_works(props["connection"], id_, password):
            live["password"] = None
        return ReadResult(id_=id_, outs={**props, **live})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        return diff_properties(olds, news, updatable=["password", "revoke_only"], replace_on=["name"])

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        if olds.get("password") != news["password"]:
            with _admin(news) as client:
                _upsert(client, id_, news["password"])
        return UpdateResult(outs=news)

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        with _admin(props) as client:
            if not _has_credential(client, id_):
                return
            if props.get("revoke_only"):
                _upsert(client, id_, secrets.token_urlsafe(32))
                return
            result = client.alter_user_scram_credentials(
                [UserScramCredentialDeletion(id_, ScramMechanism.SCRAM_SHA_256)]
            )
            if result.get(id_) and "does not exist" not in str(result[id_]):
                raise RuntimeError(f"deleting the SCRAM credential of {id_} failed: {result[id_]}")


class KafkaScramUser(Resource):
    """A SCRAM-SHA-256 credential (the principal `User:<name>`); the password is updated in place."""

    name: pulumi.Output[str]

    def __init__(
        self,
        resource_name: str,
        args: ScramUserArgs,
        connection: pulumi.Input[KafkaConnection],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        _validated(_USER_NAME, "user name", args.name)
        props = resource_props(args, connection)
        super().__init__(ScramUserProvider(), resource_name, props, secret_options(opts))


# --- ACLs ---------------------------------------------------------------------------------------------------

_RESOURCE_TYPES = {
    "topic": ResourceType.TOPIC,
    "group": ResourceType.GROUP,
    "transactional_id": ResourceType.TRANSACTIONAL_ID,
    "cluster": ResourceType.CLUSTER,
}
_PATTERN_TYPES = {"literal": ACLResourcePatternType.LITERAL, "prefixed": ACLResourcePatternType.PREFIXED}
_OPERATIONS = {
    "all": ACLOperation.ALL,
    "read": ACLOperation.READ,
    "write": ACLOperation.WRITE,
    "create": ACLOperation.CREATE,
    "delete": ACLOperation.DELETE,
    "alter": ACLOperation.ALTER,
    "describe": ACLOperation.DESCRIBE,
    "cluster_action": ACLOperation.CLUSTER_ACTION,
    "describe_configs": ACLOperation.DESCRIBE_CONFIGS,
    "alter_configs": ACLOperation.ALTER_CONFIGS,
    "idempotent_write": ACLOperation.IDEMPOTENT_WRITE,
}
_PERMISSIONS = {"allow": ACLPermissionType.ALLOW, "deny": ACLPermissionType.DENY}
ACL_FIELDS = ["principal", "resource_type", "resource_name", "pattern_type", "operation", "permission", "host"]


@dataclass(frozen=True)
class AclArgs:
    principal: str  # "User:<scram user>"
    resource_type: str  # topic | group | transactional_id | cluster
    resource_name: str  # a name, or a prefix when pattern_type is "prefixed"; "kafka-cluster" for the cluster
    operation: str  # read | write | describe | create | delete | alter | describe_configs | ... | all
    pattern_type: str = "literal"  # literal | prefixed
    permission: str = "allow"  # allow | deny
    host: str = "*"


def _choice(options: dict[str, Any], kind: str, value: str) -> Any:
    if value not in options:
        raise ValueError(f"invalid Kafka ACL {kind}: {value!r} (one of {', '.join(options)})")
    return options[value]


def _acl(props: dict[str, Any]) -> ACL:
    """The exact binding, validated: no wildcards anywhere (a tenant must never be granted `*`)."""
    resource_type = _choice(_RESOURCE_TYPES, "resource_type", props["resource_type"])
    name = props["resource_name"]
    if resource_type == ResourceType.CLUSTER:
        if name != _CLUSTER_RESOURCE:
            raise ValueError(f"the cluster ACL resource is named {_CLUSTER_RESOURCE!r}, not {name!r}")
    else:
        _validated(_TOPIC_NAME, "ACL resource name", name)
    host = props.get("host") or "*"
    if host != "*":
        ipaddress.ip_address(host)
    return ACL(
        principal=_validated(_PRINCIPAL, "principal", props["principal"]),
        host=host,
        operation=_choice(_OPERATIONS, "operation", props["operation"]),
        permission_type=_choice(_PERMISSIONS, "permission", props.get("permission") or "allow"),
        resource_pattern=ResourcePattern(
            resource_type, name, _choice(_PATTERN_TYPES, "pattern_type", props.get("pattern_type") or "literal")
        ),
    )


def _exact_filter(acl: ACL) -> ACLFilter:
    pattern = acl.resource_pattern
    return ACLFilter(
        principal=acl.principal,
        host=acl.host,
        operation=acl.operation,
        permission_type=acl.permission_type,
        resource_pattern=ResourcePatternFilter(pattern.resource_type, pattern.resource_name, pattern.pattern_type),
    )


def acl_id(props: dict[str, Any]) -> str:
    return "|".join(str(props.get(key) or "") for key in ACL_FIELDS)


class AclProvider(Provider):
    def create(self, props: dict[str, Any]) -> CreateResult:
        acl = _acl(props)
        with _admin(props) as client:
            result = client.create_acls([acl])
        if result["failed"]:
            raise RuntimeError(f"creating ACL {acl} failed: {result['failed']}")
        return CreateResult(id_=acl_id(props), outs=props)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        acl = _acl(props)
        with _admin(props) as client:
            found, _ = client.describe_acls(_exact_filter(acl))
        if acl not in found:
            return ReadResult(id_="", outs={})
        return ReadResult(id_=id_, outs=props)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        # An ACL binding has no identity beyond its fields: any change is a new binding.
        return diff_properties(olds, news, updatable=[], replace_on=ACL_FIELDS)

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        acl = _acl(props)
        with _admin(props) as client:
            [(_filter, _matched, error)] = client.delete_acls([_exact_filter(acl)])
        if error is not errors.NoError:
            raise error(f"deleting ACL {acl}")


class KafkaAcl(Resource):
    """One ACL binding; every property is part of its identity, so any change replaces it."""

    principal: pulumi.Output[str]

    def __init__(
        self,
        resource_name: str,
        args: AclArgs,
        connection: pulumi.Input[KafkaConnection],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        _acl(asdict(args))
        props = resource_props(args, connection)
        super().__init__(AclProvider(), resource_name, props, secret_options(opts))
