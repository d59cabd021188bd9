"""The README's main job, second half: real data calls through the executor with the demo workspace's own API keys
(minted through the automation API; their secrets kept in `.data/demo/keys.json`, mode 0600, reused while they
work). Each call is printed with what came back, so a reader sees the data plane working end to end."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx2
from rich.console import Console

from falcone import sse
from falcone.api_client import AutomationClient
from localplatform.settings import PlatformSettings

KINDS = ("service", "anon")
SUBSCRIBE_TIMEOUT_S = 30.0


def _keys_file() -> Path:
    return PlatformSettings().data_dir / "demo" / "keys.json"


def workspace_keys(client: AutomationClient, tenant: str, workspace: str) -> dict[str, str]:
    """A service and an anon key of the workspace: the stored ones while the API lists them as active, else new."""
    path, base = _keys_file(), f"/v1/tenants/{tenant}/workspaces/{workspace}/api-keys"
    stored: dict[str, dict[str, str]] = json.loads(path.read_text()) if path.exists() else {}
    keys: dict[str, str] = {}
    for kind in KINDS:
        known = stored.get(kind)
        listed = client.get(f"{base}/{known['id']}") if known else None
        if known and listed and listed["status"] == "active":
            keys[kind] = known["secret"]
            continue
        created = client.request("POST", base, expect=(201,), json={"kind": kind, "name": f"demo {kind} key"}).json()
        stored[kind] = {"id": created["id"], "secret": created["secret"]}
        keys[kind] = created["secret"]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=True)
    path.write_text(json.dumps(stored, indent=2))
    return keys


def forget_keys() -> None:
    """The keys died with the workspace."""
    _keys_file().unlink(missing_ok=True)


def stored_key(kind: str) -> str:
    if kind not in KINDS:
        raise SystemExit(f"kind must be one of {list(KINDS)}")
    path = _keys_file()
    if not path.exists():
        raise SystemExit("no demo keys yet: run `falcone demo up`")
    return str(json.loads(path.read_text())[kind]["secret"])


def _check(response: httpx2.Response, *expected: int) -> Any:
    if response.status_code not in expected:
        raise SystemExit(
            f"{response.request.method} {response.request.url.path}: {response.status_code} {response.text}"
        )
    return response.json() if response.content and "json" in response.headers.get("content-type", "") else None


class _Subscription:
    """An SSE subscription read in a thread, so the demo can publish while it listens."""

    def __init__(self, url: str, headers: dict[str, str], wanted: Callable[[dict[str, Any]], bool]) -> None:
        self.url, self.headers, self.wanted = url, headers, wanted
        self.ready, self.done = threading.Event(), threading.Event()
        self.found: dict[str, Any] | None = None
        self.error: str | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            with httpx2.stream("GET", self.url, headers=self.headers, timeout=SUBSCRIBE_TIMEOUT_S) as response:
                if response.status_code != 200:
                    self.error = f"{response.status_code} {response.read().decode()}"
                    return
                for event in sse.events(response.iter_lines()):
                    if event.kind != "record":  # the stream's first event says it is positioned
                        self.ready.set()
                    elif self.wanted(event.data):
                        self.found = event.data
                        return
        except httpx2.HTTPError as error:
            self.error = f"{type(error).__name__}: {error}"
        finally:
            self.ready.set()
            self.done.set()


def run(console: Console, executor_url: str, keys: dict[str, str], workspace: dict[str, Any]) -> dict[str, Any]:
    """Insert and query a table, insert and find a Mongo document, upload an object and download it through a
    presigned URL, publish an event and receive it on a subscription. Returns what each call gave."""
    service, anon = {"apikey": keys["service"]}, {"apikey": keys["anon"]}
    marker = f"demo-{uuid.uuid4().hex[:8]}"
    results: dict[str, Any] = {}
    with httpx2.Client(base_url=executor_url, timeout=30) as http:
        inserted = _check(
            http.post(
                "/rest/v1/todos",
                json={"data": {"title": f"try Falcone ({marker})"}},
                headers=service | {"Prefer": "return=representation"},
            ),
            201,
        )
        console.print(f"  [green]✓[/] postgres  insert  todos → id {inserted[0]['id']}")
        rows = _check(http.get("/rest/v1/todos?select=id,data&order=id.desc&limit=3", headers=anon), 200)
        console.print(f"  [green]✓[/] postgres  query   todos with the anon key (RLS) → {len(rows)} row(s)")
        results["postgres"] = rows

        document = _check(
            http.post("/v1/mongo/collections/notes/documents", json={"text": marker, "n": 1}, headers=service), 201
        )
        found = _check(
            http.post("/v1/mongo/collections/notes/query", json={"filter": {"text": marker}}, headers=anon), 200
        )
        console.print(f"  [green]✓[/] mongo     insert + find notes → {len(found['items'])} document(s)")
        results["mongo"] = {"inserted": document, "found": found["items"]}

        bucket, key = workspace["outputs"]["bucket"], f"demo/{marker}.txt"
        content = f"hello from {marker}\n".encode()
        _check(
            http.put(f"/v1/objects/{bucket}/{key}", content=content, headers=service | {"Content-Type": "text/plain"}),
            200,
            201,
        )
        presigned = _check(
            http.post(f"/v1/objects/{bucket}/{key}/presign", json={"method": "GET", "expires_in": 300}, headers=anon),
            200,
            201,
        )
        downloaded = httpx2.get(presigned["url"], headers=presigned.get("headers") or {}, timeout=30)
        if downloaded.content != content:
            raise SystemExit(f"presigned download gave {downloaded.status_code} {downloaded.text[:200]}")
        console.print(f"  [green]✓[/] objects   upload {key} → presigned GET returned the same {len(content)} bytes")
        results["objects"] = {"bucket": bucket, "key": key, "presigned_url": presigned["url"]}

        subscription = _Subscription(
            f"{executor_url}/v1/events/topics/events/subscribe?from=latest",
            anon,
            lambda record: isinstance(record.get("value"), dict) and record["value"].get("marker") == marker,
        )
        subscription.ready.wait(SUBSCRIBE_TIMEOUT_S)
        published = _check(
            http.post(
                "/v1/events/topics/events/publish",
                json={"records": [{"key": "demo", "value": {"marker": marker, "at": time.time()}}]},
                headers=service,
            ),
            200,
            202,
        )
        subscription.done.wait(SUBSCRIBE_TIMEOUT_S)
        if subscription.found is None:
            raise SystemExit(f"the published event did not arrive on the subscription: {subscription.error}")
        delivered = published["records"][0]
        console.print(
            f"  [green]✓[/] events    publish (partition {delivered['partition']}, offset {delivered['offset']})"
            " → received on the SSE subscription"
        )
        results["events"] = {"published": delivered, "received": subscription.found}
    return results
