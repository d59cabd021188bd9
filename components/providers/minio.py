"""MinIO buckets, IAM policies and users: the S3 API plus MinIO's admin API (madmin, `/minio/admin/v3`).

A workspace gets a bucket, a policy confined to that bucket (`arn:aws:s3:::<bucket>` and `arn:aws:s3:::<bucket>/*`)
and a user the policy is attached to; nothing else grants that user anything, so it cannot see other buckets.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pulumi
from minio import Minio, MinioAdmin
from minio.commonconfig import ENABLED
from minio.credentials.providers import StaticProvider
from minio.deleteobjects import DeleteObject
from minio.error import MinioAdminException, S3Error
from minio.versioningconfig import SUSPENDED, VersioningConfig
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, Resource, UpdateResult

from components.connections import MinioConnection
from components.providers.base import (
    Provider,
    diff_properties,
    resource_props,
    secret_options,
)

# S3 bucket naming rules (lowercase, 3-63 characters, no `..`, no IP-address look-alikes).
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_IP_ADDRESS = re.compile(r"^\d+\.\d+\.\d+\.\d+$")
# MinIO keeps attached policies as a comma-separated list, so policy names and access keys exclude `,` and `=`.
_POLICY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@+-]{0,127}$")
_ACCESS_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@+-]{2,127}$")

# Admin API error codes that mean "the object is not there".
_NO_SUCH = {"XMinioAdminNoSuchPolicy", "XMinioAdminNoSuchUser", "NoSuchBucket"}
# S3 error codes a wrong or unknown credential produces (a valid one without rights gets AccessDenied).
_BAD_CREDENTIALS = {"SignatureDoesNotMatch", "InvalidAccessKeyId", "InvalidClientTokenId"}


def _validated(pattern: re.Pattern[str], kind: str, value: str) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise ValueError(f"invalid MinIO {kind}: {value!r}")
    return value


def _bucket_name(value: str) -> str:
    _validated(_BUCKET_NAME, "bucket name", value)
    if ".." in value or _IP_ADDRESS.fullmatch(value):
        raise ValueError(f"invalid MinIO bucket name: {value!r}")
    return value


def _endpoint(connection: dict[str, Any]) -> tuple[str, bool]:
    parts = urlsplit(connection["endpoint_url"])
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"invalid MinIO endpoint_url: {connection['endpoint_url']!r}")
    return parts.netloc, parts.scheme == "https"


def _s3(props: dict[str, Any], access_key: str | None = None, secret_key: str | None = None) -> Minio:
    connection = props["connection"]
    endpoint, secure = _endpoint(connection)
    return Minio(
        endpoint,
        access_key=access_key or connection["access_key"],
        secret_key=secret_key or connection["secret_key"],
        secure=secure,
        region=connection.get("region") or None,
    )


def _admin(props: dict[str, Any]) -> MinioAdmin:
    connection = props["connection"]
    endpoint, secure = _endpoint(connection)
    return MinioAdmin(
        endpoint=endpoint,
        credentials=StaticProvider(connection["access_key"], connection["secret_key"]),
        region=connection.get("region") or "",
        secure=secure,
    )


def _admin_error_code(error: MinioAdminException) -> str:
    try:
        body = json.loads(error._body)
    except (TypeError, ValueError):
        return ""
    return str(body.get("Code", "")) if isinstance(body, dict) else ""


def _is_missing(error: MinioAdminException) -> bool:
    return _admin_error_code(error) in _NO_SUCH


# --- buckets ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BucketArgs:
    name: str
    # Deleting the bucket deletes every object (and every version) in it; without this, delete refuses a
    # bucket that still holds objects.
    force_destroy: bool = False
    versioning: bool = False
    # Hard quota in bytes, enforced by MinIO on writes; None = no quota.
    quota_bytes: int | None = None


def _bucket_versioning(client: Minio, bucket: str) -> bool:
    return bool(client.get_bucket_versioning(bucket).status == ENABLED)


def _sync_versioning(client: Minio, bucket: str, wanted: bool) -> None:
    if _bucket_versioning(client, bucket) == wanted:
        return
    # Versioning, once enabled, can only be suspended (S3 semantics); a never-versioned bucket stays "Off".
    client.set_bucket_versioning(bucket, VersioningConfig(ENABLED if wanted else SUSPENDED))


def _bucket_quota(admin: MinioAdmin, bucket: str) -> int | None:
    quota = json.loads(admin.bucket_quota_get(bucket) or "{}").get("quota") or 0
    return int(quota) or None


def _sync_quota(admin: MinioAdmin, bucket: str, wanted: Any) -> None:
    wanted_bytes = int(wanted) if wanted else None  # Pulumi hands numbers over as floats
    if _bucket_quota(admin, bucket) == wanted_bytes:
        return
    if wanted_bytes is None:
        admin.bucket_quota_clear(bucket)
    else:
        admin.bucket_quota_set(bucket, wanted_bytes)


def _empty_bucket(client: Minio, bucket: str) -> None:
    # Every version and delete marker, or a versioned bucket is never empty.
    objects = [
        DeleteObject(item.object_name, item.version_id)
        for item in client.list_objects(bucket, recursive=True, include_version=True)
        if item.object_name is not None
    ]
    for failure in client.remove_objects(bucket, objects):
        raise RuntimeError(f"could not delete {failure.name} from bucket {bucket}: {failure.message}")


class BucketProvider(Provider):
    def create(self, props: dict[str, Any]) -> CreateResult:
        name = _bucket_name(props["name"])
        client = _s3(props)
        try:
            client.make_bucket(name, location=props["connection"].get("region") or None)
        except S3Error as error:
            if error.code != "BucketAlreadyOwnedByYou":  # BucketAlreadyExists: someone else's, never adopted
                raise
            return self.adopt(name, props)  # versioning and quota as declared; its objects stay
        if props.get("versioning"):
            _sync_versioning(client, name, True)
        if props.get("quota_bytes"):
            _sync_quota(_admin(props), name, props["quota_bytes"])
        return CreateResult(id_=name, outs=props)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        client = _s3(props)
        if not client.bucket_exists(id_):
            return ReadResult(id_="", outs={})
        try:
            quota = _bucket_quota(_admin(props), id_)
        except MinioAdminException as error:
            if _is_missing(error):  # deleted between the two calls
                return ReadResult(id_="", outs={})
            raise
        live = {"name": id_, "versioning": _bucket_versioning(client, id_), "quota_bytes": quota}
        return ReadResult(id_=id_, outs={**props, **live})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        return diff_properties(
            _quota_as_int(olds),
            _quota_as_int(news),
            updatable=["versioning", "quota_bytes", "force_destroy"],
            replace_on=["name"],
        )

    def update(self, id_: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        _sync_versioning(_s3(news), id_, bool(news.get("versioning")))
        _sync_quota(_admin(news), id_, news.get("quota_bytes"))
        return UpdateResult(outs=news)

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        client = _s3(props)
        if not client.bucket_exists(id_):
            return
        if props.get("force_destroy"):
            _empty_bucket(client, id_)
        try:
            client.remove_bucket(id_)
        except S3Error as error:
            if error.code != "NoSuchBucket":
                raise


def _quota_as_int(props: dict[str, Any]) -> dict[str, Any]:
    quota = props.get("quota_bytes")
    return {**props, "quota_bytes": int(quota) if quota else None}


class MinioBucket(Resource):
    """A bucket; `versioning` and `quota_bytes` are updated in place, a new name replaces it."""

    name: pulumi.Output[str]
    versioning: pulumi.Output[bool]
    quota_bytes: pulumi.Output[int | None]

    def __init__(
        self,
        resource_name: str,
        args: BucketArgs,
        connection: pulumi.Input[MinioConnection],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        _bucket_name(args.name)
        props = resource_props(args, connection)
        super().__init__(BucketProvider(), resource_name, props, secret_options(opts))


# --- policies -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PolicyArgs:
    name: str
    # An IAM policy document: {"Version": "2012-10-17", "Statement": [...]}.
    document: dict[str, Any]


# Statement keys whose value may be a string or a list; the order of the list means nothing.
_LIST_KEYS = ("Action", "NotAction", "Resource", "NotResource")


def normalized_policy(document: Any) -> Any:
    """The document as MinIO stores it, made order-free: MinIO turns `"Action": "s3:X"` into a list."""
    if not isinstance(document, dict):
        return document
    statements = document.get("Statement") or []
    if isinstance(statements, dict):
        statements = [statements]
    normal = []
    for statement in statements:
        entry = dict(statement)
        for key in _LIST_KEYS:
            if key in entry:
                value = entry[key]
                entry[key] = sorted({value} if isinstance(value, str) else set(value))
        normal.append(entry)
    return {
        **document,
        "Statement": sorted(normal, key=lambda item: json.dumps(item, sort_keys=True)),
    }


def _policy_document(admin: MinioAdmin, name: str) -> dict[str, Any] | None:
    try:
        info = admin.policy_info(name)
    except MinioAdminException as error:
        if _is_missing(error):
            return None
        raise
    document = json.loads(info)
    # Newer servers wrap the document ({"PolicyName": ..., "Policy": {...}}); older ones return it as is.
    if isinstance(document, dict) and "Policy" in document and "Statement" not in document:
        document = document["Policy"]
    return dict(document)


def _policy_entities(admin: MinioAdmin, policy: str) -> tuple[list[str], list[str]]:
    mappings = json.loads(admin.get_policy_entities(users=[], groups=[], policies=[policy])).get("policyMappings")
    users: list[str] = []
    groups: list[str] = []
    for mapping in mappings or []:
        if mapping.get("policy") == policy:
            users += mapping.get("users") or []
            groups += mapping.get("groups") or []
    return users, groups


class PolicyProvider(Provider):
    def create(self, props: dict[str, Any]) -> CreateResult:
        name = _validated(_POLICY_NAME, "policy name", props["name"])
        _admin(props).policy_add(name, policy=props["document"])  # an upsert: a leftover gets the declared document
        return CreateResult(id_=name, outs=props)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        live = _policy_document(_admin(props), id_)
        if live is None:
            return ReadResult(id_="", outs={})
        # Keep the program's spelling when it means the same, so refresh shows no change; else the server's.
        same = normalized_policy(live) == normalized_policy(props.get("document"))
        document = props.get("document") if same else live
        return ReadResult(id_=id_, outs={**props, "name": id_, "document": document})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        return diff_properties(
            {**olds, "document": normalized_policy(olds.get("document"))},
            {**news, "document": normalized_policy(news.get("document"))},
            updatable=["document"],
            replace_on=["name"],
        )

    def update(self, id_: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        _admin(news).policy_add(id_, policy=news["document"])  # add-canned-policy overwrites
        return UpdateResult(outs=news)

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        admin = _admin(props)
        # MinIO refuses to remove a policy that is still attached; deleting it means revoking it everywhere.
        users, groups = _policy_entities(admin, id_)
        for user in users:
            _detach(admin, [id_], user)
        for group in groups:
            try:
                admin.detach_policy([id_], group=group)
            except MinioAdminException as error:
                if not _is_missing(error) and _admin_error_code(error) != "XMinioAdminPolicyChangeAlreadyApplied":
                    raise
        try:
            admin.policy_remove(id_)
        except MinioAdminException as error:
            if not _is_missing(error):
                raise


class MinioPolicy(Resource):
    """A canned IAM policy; the document is updated in place, a new name replaces it."""

    name: pulumi.Output[str]
    document: pulumi.Output[dict[str, Any]]

    def __init__(
        self,
        resource_name: str,
        args: PolicyArgs,
        connection: pulumi.Input[MinioConnection],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        _validated(_POLICY_NAME, "policy name", args.name)
        props = resource_props(args, connection)
        super().__init__(PolicyProvider(), resource_name, props, secret_options(opts))


# --- users --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UserArgs:
    access_key: str
    secret_key: pulumi.Input[str]
    # Names of the canned policies attached to the user (MinioPolicy.name outputs, so the policies exist first).
    policies: list[pulumi.Input[str]] = field(default_factory=list)


def _user_policies(admin: MinioAdmin, access_key: str) -> list[str] | None:
    try:
        info = json.loads(admin.user_info(access_key))
    except MinioAdminException as error:
        if _is_missing(error):
            return None
        raise
    return sorted(name for name in (info.get("policyName") or "").split(",") if name)


def _attach(admin: MinioAdmin, policies: list[str], access_key: str) -> None:
    try:
        admin.attach_policy(policies, user=access_key)
    except MinioAdminException as error:
        if _admin_error_code(error) != "XMinioAdminPolicyChangeAlreadyApplied":
            raise


def _detach(admin: MinioAdmin, policies: list[str], access_key: str) -> None:
    try:
        admin.detach_policy(policies, user=access_key)
    except MinioAdminException as error:
        if not _is_missing(error) and _admin_error_code(error) != "XMinioAdminPolicyChangeAlreadyApplied":
            raise


def _sync_policies(admin: MinioAdmin, access_key: str, wanted: list[str]) -> None:
    for name in wanted:
        _validated(_POLICY_NAME, "policy name", name)
    current = set(_user_policies(admin, access_key) or [])
    missing, extra = sorted(set(wanted) - current), sorted(current - set(wanted))
    if missing:
        _attach(admin, missing, access_key)
    if extra:
        _detach(admin, extra, access_key)


def _secret_works(props: dict[str, Any], access_key: str, secret_key: str) -> bool:
    """Sign one request as the user: a wrong secret (or a disabled user) fails authentication.

    A user without rights gets AccessDenied, which still proves the signature was accepted.
    """
    try:
        _s3(props, access_key, secret_key).list_buckets()
    except S3Error as error:
        return error.code not in _BAD_CREDENTIALS
    return True


class UserProvider(Provider):
    def create(self, props: dict[str, Any]) -> CreateResult:
        access_key = _validated(_ACCESS_KEY, "access key", props["access_key"])
        admin = _admin(props)
        # An upsert: a user left by an interrupted run (base.py) gets the declared secret, policies synced below.
        admin.user_add(access_key, props["secret_key"])
        _sync_policies(admin, access_key, list(props.get("policies") or []))
        return CreateResult(id_=access_key, outs=props)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        policies = _user_policies(_admin(props), id_)
        if policies is None:
            return ReadResult(id_="", outs={})
        live: dict[str, Any] = {"access_key": id_, "policies": policies}
        # The secret cannot be read back; a changed secret (or a disabled user) shows up as a changed value.
        secret = props.get("secret_key")
        if secret and not _secret_works(props, id_, secret):
            live["secret_key"] = None
        return ReadResult(id_=id_, outs={**props, **live})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        return diff_properties(olds, news, updatable=["secret_key", "policies"], replace_on=["access_key"])

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        admin = _admin(news)
        if olds.get("secret_key") != news["secret_key"]:
            admin.user_add(id_, news["secret_key"])  # sets the secret, re-enables the user, keeps its policies
        _sync_policies(admin, id_, list(news.get("policies") or []))
        return UpdateResult(outs=news)

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        try:
            _admin(props).user_remove(id_)
        except MinioAdminException as error:
            if not _is_missing(error):
                raise


class MinioUser(Resource):
    """An IAM user; its secret and attached policies are updated in place, a new access key replaces it."""

    access_key: pulumi.Output[str]
    policies: pulumi.Output[list[str]]

    def __init__(
        self,
        resource_name: str,
        args: UserArgs,
        connection: pulumi.Input[MinioConnection],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        _validated(_ACCESS_KEY, "access key", args.access_key)
        props = resource_props(args, connection)
        super().__init__(UserProvider(), resource_name, props, secret_options(opts))
