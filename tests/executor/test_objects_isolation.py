"""Tenant isolation of the object storage surface, black-box through HTTP (and MinIO itself for presigned URLs),
one test per threat.

The world: 4 tenants (starter, growth, regulated, enterprise) x 2 workspaces. A starter workspace is a prefix of
the shared bucket (so its sibling names the *same* bucket), the others have a bucket each. Every pair (victim,
attacker) of distinct workspaces is tried; each denial has the owner's success next to it as control.
"""

from __future__ import annotations

import http.client
import itertools
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import httpx2
import hvac
import pytest

# aiobotocore ships no type information.
from aiobotocore.session import get_session
from botocore.exceptions import ClientError

from falcone import apikeys
from tests.executor.conftest import Workspace, World

pytestmark = [pytest.mark.toolchain, pytest.mark.platform]


def bucket_of(world: World, workspace: Workspace) -> str:
    return str(world.stack_outputs[workspace.names.stack]["bucket"])


def object_url(world: World, workspace: Workspace, key: str, *, bucket: str | None = None) -> str:
    return f"/v1/objects/{bucket or bucket_of(world, workspace)}/{quote(key, safe='/')}"


def _pairs(world: World) -> list[tuple[Workspace, Workspace]]:
    return list(itertools.permutations(world.workspaces, 2))


@dataclass(frozen=True)
class Stored:
    """One private object per workspace: its key and a content no other workspace's object holds."""

    key: dict[str, str]  # workspace label -> key
    marker: dict[str, str]  # workspace label -> content


@pytest.fixture(scope="module")
async def stored(world: World, client: httpx2.AsyncClient) -> Stored:
    keys: dict[str, str] = {}
    markers: dict[str, str] = {}
    for workspace in world.workspaces:
        key = f"private/{workspace.names.tenant}-{workspace.names.slug}.txt"
        marker = f"object-secret-{workspace.names.tenant}-{workspace.names.slug}"
        put = await client.put(
            object_url(world, workspace, key),
            content=marker.encode(),
            headers={**workspace.headers(), "content-type": "text/plain"},
        )
        assert put.status_code == 201, put.text
        keys[workspace.label], markers[workspace.label] = key, marker
    return Stored(keys, markers)


async def _owner_reads(world: World, client: httpx2.AsyncClient, stored: Stored, owner: Workspace) -> None:
    """The control: the owner still reads its object, unchanged."""
    own = await client.get(object_url(world, owner, stored.key[owner.label]), headers=owner.headers())
    assert own.status_code == 200, own.text
    assert own.text == stored.marker[owner.label]


# --- the isolation matrix: read, list, write, overwrite, delete ------------------------------------------------


async def test_foreign_credential_cannot_read_another_workspaces_object(
    world: World, stored: Stored, client: httpx2.AsyncClient
) -> None:
    for victim, attacker in _pairs(world):
        await _owner_reads(world, client, stored, victim)
        url = object_url(world, victim, stored.key[victim.label])
        for response in (
            await client.get(url, headers=attacker.headers()),
            await client.head(url, headers=attacker.headers()),
            await client.get(url, headers=attacker.headers("anon")),
            await client.post(f"{url}/presign", json={"method": "GET"}, headers=attacker.headers()),
        ):
            assert response.status_code == 404, (victim.label, attacker.label, response.text)
            assert stored.marker[victim.label] not in response.text


async def test_foreign_credential_lists_only_its_own_objects(
    world: World, stored: Stored, client: httpx2.AsyncClient
) -> None:
    for victim, attacker in _pairs(world):
        listing = await client.get(f"/v1/objects/{bucket_of(world, victim)}", headers=attacker.headers())
        if bucket_of(world, victim) == bucket_of(world, attacker):
            # Two starter workspaces name the same shared bucket: each sees its own prefix of it, nothing else.
            assert listing.status_code == 200
            assert stored.key[attacker.label] in [item["key"] for item in listing.json()["items"]]
        else:
            assert listing.status_code == 404, (victim.label, attacker.label, listing.text)
        assert stored.key[victim.label] not in listing.text
        for prefix in ("", "private/", f"{victim.names.tenant}/", f"{victim.names.tenant}/{victim.names.slug}/"):
            probe = await client.get(
                f"/v1/objects/{bucket_of(world, attacker)}", params={"prefix": prefix}, headers=attacker.headers()
            )
            assert probe.status_code == 200
            assert stored.key[victim.label] not in probe.text
            assert victim.names.tenant not in probe.text or victim.names.tenant == attacker.names.tenant
    for owner in world.workspaces:  # control
        own = await client.get(
            f"/v1/objects/{bucket_of(world, owner)}", params={"prefix": "private/"}, headers=owner.headers()
        )
        assert [item["key"] for item in own.json()["items"]] == [stored.key[owner.label]]


async def test_foreign_credential_cannot_write_or_overwrite_another_workspaces_object(
    world: World, stored: Stored, client: httpx2.AsyncClient
) -> None:
    for victim, attacker in _pairs(world):
        same_bucket = bucket_of(world, victim) == bucket_of(world, attacker)
        victim_key, planted_key = stored.key[victim.label], f"planted-by-{attacker.names.tenant}-{attacker.names.slug}"
        overwrite = await client.put(
            object_url(world, victim, victim_key), content=b"pwned", headers=attacker.headers()
        )
        planted = await client.put(object_url(world, victim, planted_key), content=b"pwned", headers=attacker.headers())
        presigned = await client.post(
            f"{object_url(world, victim, victim_key)}/presign",
            json={"method": "PUT", "content_length": 5},
            headers=attacker.headers(),
        )
        if same_bucket:
            # Two starter workspaces name the same shared bucket: the keys land in the attacker's own prefix
            # (using the presigned URL proves it), never in the victim's.
            assert (overwrite.status_code, planted.status_code, presigned.status_code) == (201, 201, 200)
            async with httpx2.AsyncClient() as plain:
                used = await plain.put(presigned.json()["url"], content=b"pwned", headers=presigned.json()["headers"])
            assert used.status_code == 200
            for key in (victim_key, planted_key):
                gone = await client.delete(object_url(world, attacker, key), headers=attacker.headers())
                assert gone.status_code == 204
        else:
            statuses = (overwrite.status_code, planted.status_code, presigned.status_code)
            assert statuses == (404, 404, 404), (victim.label, attacker.label, statuses)
        await _owner_reads(world, client, stored, victim)
        listed = await client.get(f"/v1/objects/{bucket_of(world, victim)}", headers=victim.headers())
        assert listed.status_code == 200
        assert "planted-by" not in listed.text


async def test_foreign_credential_cannot_delete_another_workspaces_object(
    world: World, stored: Stored, client: httpx2.AsyncClient
) -> None:
    for victim, attacker in _pairs(world):
        deleted = await client.delete(object_url(world, victim, stored.key[victim.label]), headers=attacker.headers())
        assert deleted.status_code == 404, (victim.label, attacker.label, deleted.text)
        await _owner_reads(world, client, stored, victim)
    # control: an owner deletes its own object
    owner = world.workspaces[0]
    url = object_url(world, owner, "private-disposable.txt")
    assert (await client.put(url, content=b"bye", headers=owner.headers())).status_code == 201
    assert (await client.delete(url, headers=owner.headers())).status_code == 204


# --- keys that try to leave the workspace's prefix ------------------------------------------------------------


def _traversals(victim: Workspace, key: str) -> list[str]:
    """Spellings of the victim's object relative to another workspace's location, percent-encoded so that the
    HTTP client sends them as they are (it resolves literal dot segments itself)."""
    tenant, slug = victim.names.tenant, victim.names.slug
    return [
        f"%2e%2e/%2e%2e/{tenant}/{slug}/{key}",
        f"%2E%2E%2F%2E%2E%2F{tenant}%2F{slug}%2F{key}",
        f"..%2F..%2F{tenant}%2F{slug}%2F{key}",
        f"/{tenant}/{slug}/{key}",
        f"%2F{tenant}%2F{slug}%2F{key}",
        f"x/%2e%2e/%2e%2e/%2e%2e/flc-{tenant}--{slug}/{key}",
        f"..%5C..%5C{tenant}%5C{slug}%5C{key}",
        f"%2E/{key}",
        f"{slug}/%2e%2e/%2e%2e/{tenant}/{slug}/{key}",
    ]


async def test_traversal_keys_never_reach_another_workspace(
    world: World, stored: Stored, client: httpx2.AsyncClient
) -> None:
    for victim, attacker in _pairs(world):
        base = f"/v1/objects/{bucket_of(world, attacker)}/"
        for raw in _traversals(victim, stored.key[victim.label]):
            for response in (
                await client.get(base + raw, headers=attacker.headers()),
                await client.put(base + raw, content=b"pwned", headers=attacker.headers()),
                await client.delete(base + raw, headers=attacker.headers()),
            ):
                assert response.status_code in {400, 404}, (attacker.label, raw, response.status_code)
                assert stored.marker[victim.label] not in response.text
        await _owner_reads(world, client, stored, victim)


async def test_literal_dot_segments_on_the_wire_are_refused(world: World, stored: Stored, executor_url: str) -> None:
    """HTTP clients resolve `..` before sending; a raw request does not. The real server must refuse it too."""
    victim, attacker = world.workspaces[0], world.workspaces[1]  # the two starter workspaces: one shared bucket
    assert bucket_of(world, victim) == bucket_of(world, attacker)
    target = urlsplit(executor_url)
    key = stored.key[victim.label]
    paths = [
        f"/v1/objects/{bucket_of(world, attacker)}/../../{victim.names.tenant}/{victim.names.slug}/{key}",
        f"/v1/objects/{bucket_of(world, attacker)}/./../{victim.names.slug}/{key}",
        f"/v1/objects/{bucket_of(world, attacker)}//{victim.names.tenant}/{victim.names.slug}/{key}",
    ]
    for path in paths:
        connection = http.client.HTTPConnection(target.hostname or "127.0.0.1", target.port, timeout=30)
        try:
            connection.request("GET", path, headers=attacker.headers())
            response = connection.getresponse()
            body = response.read().decode(errors="replace")
        finally:
            connection.close()
        assert response.status in {400, 404}, (path, response.status, body)
        assert stored.marker[victim.label] not in body
    # control: the owner's own plain key over the same socket
    connection = http.client.HTTPConnection(target.hostname or "127.0.0.1", target.port, timeout=30)
    try:
        connection.request("GET", object_url(world, victim, key), headers=victim.headers())
        own = connection.getresponse()
        assert (own.status, own.read().decode()) == (200, stored.marker[victim.label])
    finally:
        connection.close()


# --- presigned URLs ---------------------------------------------------------------------------------------------


def _storage_secret(world: World, workspace: Workspace) -> dict[str, Any]:
    vault = world.deployment.backends.vault
    assert vault is not None
    kv: Any = hvac.Client(url=vault.address, token=vault.token).secrets.kv.v2
    answer = kv.read_secret_version(
        path=f"{workspace.names.vault_prefix}/storage",
        mount_point=world.deployment.outputs.vault_mount,
        raise_on_deleted_version=True,
    )
    data: dict[str, Any] = answer["data"]["data"]
    return data


async def test_presigned_url_cannot_be_pointed_at_another_workspaces_object(
    world: World, stored: Stored, client: httpx2.AsyncClient
) -> None:
    async with httpx2.AsyncClient() as plain:
        for victim, attacker in _pairs(world):
            own_url = object_url(world, attacker, stored.key[attacker.label])
            signed = await client.post(f"{own_url}/presign", json={"method": "GET"}, headers=attacker.headers())
            assert signed.status_code == 200, signed.text
            url = signed.json()["url"]
            fetched = await plain.get(url)
            assert (fetched.status_code, fetched.text) == (200, stored.marker[attacker.label])  # control
            # The same signature on the victim's object: the path is signed, the object store refuses.
            secret = _storage_secret(world, victim)
            victim_path = "/" + quote(f"{secret['bucket']}/{secret['prefix']}{stored.key[victim.label]}")
            parts = urlsplit(url)
            forged = await plain.get(f"{parts.scheme}://{parts.netloc}{victim_path}?{parts.query}")
            assert forged.status_code == 403, (victim.label, attacker.label)
            assert stored.marker[victim.label] not in forged.text


async def test_a_workspaces_own_storage_key_cannot_sign_for_another_workspace(world: World, stored: Stored) -> None:
    """Presigned URLs are signed with the workspace's MinIO access key: its policy is the wall, not the executor.
    Signed by hand with the attacker's real key, the victim's object is still refused."""
    minio = world.deployment.backends.minio
    assert minio is not None
    for victim, attacker in _pairs(world):
        mine, theirs = _storage_secret(world, attacker), _storage_secret(world, victim)
        async with get_session().create_client(
            "s3",
            endpoint_url=minio.endpoint_url,
            region_name=minio.region,
            aws_access_key_id=mine["access_key"],
            aws_secret_access_key=mine["secret_key"],
        ) as s3:
            own = await s3.get_object(Bucket=mine["bucket"], Key=mine["prefix"] + stored.key[attacker.label])
            async with own["Body"] as body:
                assert (await body.read()).decode() == stored.marker[attacker.label]  # control
            with pytest.raises(ClientError) as refused:
                await s3.get_object(Bucket=theirs["bucket"], Key=theirs["prefix"] + stored.key[victim.label])
            assert refused.value.response["Error"]["Code"] == "AccessDenied", (victim.label, attacker.label)
            url = await s3.generate_presigned_url(
                "get_object", Params={"Bucket": theirs["bucket"], "Key": theirs["prefix"] + stored.key[victim.label]}
            )
        async with httpx2.AsyncClient() as plain:
            denied = await plain.get(url)
        assert denied.status_code == 403
        assert stored.marker[victim.label] not in denied.text


# --- credentials -------------------------------------------------------------------------------------------------


async def test_spoofed_tenant_headers_with_a_valid_key_are_ignored(
    world: World, stored: Stored, client: httpx2.AsyncClient
) -> None:
    for victim, attacker in _pairs(world):
        spoofed = {
            **attacker.headers(),
            "x-tenant-id": victim.names.tenant,
            "x-workspace-id": victim.names.slug,
            "x-auth-subject": "someone",
        }
        read = await client.get(object_url(world, victim, stored.key[victim.label]), headers=spoofed)
        assert read.status_code == 404, (victim.label, attacker.label)
        assert stored.marker[victim.label] not in read.text
        # The attacker is still itself: its own object answers under the same spoofed headers.
        own = await client.get(object_url(world, attacker, stored.key[attacker.label]), headers=spoofed)
        assert own.text == stored.marker[attacker.label]


async def test_invalid_or_missing_credential_is_401(world: World, stored: Stored, client: httpx2.AsyncClient) -> None:
    victim = world.workspaces[2]
    url = object_url(world, victim, stored.key[victim.label])
    forged = apikeys.generate("service").secret
    for headers in ({"apikey": forged}, {"apikey": "flc_not_a_key"}, {"authorization": "Bearer not.a.jwt"}, {}):
        for response in (
            await client.get(url, headers=headers),
            await client.put(url, content=b"pwned", headers=headers),
            await client.delete(url, headers=headers),
            await client.get(f"/v1/objects/{bucket_of(world, victim)}", headers=headers),
        ):
            assert response.status_code == 401, (headers, response.text)
            assert stored.marker[victim.label] not in response.text
    await _owner_reads(world, client, stored, victim)


async def test_anon_key_reads_but_never_writes(world: World, stored: Stored, client: httpx2.AsyncClient) -> None:
    for workspace in world.workspaces:
        url = object_url(world, workspace, stored.key[workspace.label])
        anon = workspace.headers("anon")
        read = await client.get(url, headers=anon)
        assert (read.status_code, read.text) == (200, stored.marker[workspace.label])
        assert (await client.get(f"/v1/objects/{bucket_of(world, workspace)}", headers=anon)).status_code == 200
        assert (await client.post(f"{url}/presign", json={"method": "GET"}, headers=anon)).status_code == 200
        for response in (
            await client.put(url, content=b"pwned", headers=anon),
            await client.put(object_url(world, workspace, "anon-new.txt"), content=b"x", headers=anon),
            await client.delete(url, headers=anon),
            await client.post(f"{url}/presign", json={"method": "PUT", "content_length": 5}, headers=anon),
        ):
            assert response.status_code == 403, (workspace.label, response.request.method, response.text)
            assert response.headers["content-type"] == "application/problem+json"
        await _owner_reads(world, client, stored, workspace)
        absent = await client.head(object_url(world, workspace, "anon-new.txt"), headers=workspace.headers())
        assert absent.status_code == 404
