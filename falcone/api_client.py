"""A client of the automation API for the CLI: operator tokens, problem details as errors, and operations
followed live through their Server-Sent Events."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx2

from falcone import sse

OPERATOR_CLIENT = "in-falcone-operator"
FINISHED = ("succeeded", "failed", "cancelled")


class ApiError(RuntimeError):
    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        super().__init__(f"{status} {problem.get('title', '')}: {problem.get('detail', problem)}")
        self.status, self.problem = status, problem


def operator_token(keycloak_url: str, realm: str, client_secret: str) -> tuple[str, float]:
    """A client-credentials token of the operator client (platform_admin) and its lifetime in seconds."""
    response = httpx2.post(
        f"{keycloak_url.rstrip('/')}/realms/{realm}/protocol/openid-connect/token",
        data={"grant_type": "client_credentials", "client_id": OPERATOR_CLIENT, "client_secret": client_secret},
        timeout=10,
    )
    if response.status_code != 200:
        raise ApiError(response.status_code, {"title": "token", "detail": response.text[:500]})
    body = response.json()
    return str(body["access_token"]), float(body["expires_in"])


@dataclass
class AutomationClient:
    base_url: str
    token: Callable[[], str]
    http: httpx2.Client = field(init=False)

    def __post_init__(self) -> None:
        self.http = httpx2.Client(base_url=self.base_url, timeout=httpx2.Timeout(30.0))

    def request(self, method: str, path: str, *, expect: tuple[int, ...] = (200,), **options: Any) -> httpx2.Response:
        headers = {"Authorization": f"Bearer {self.token()}", **options.pop("headers", {})}
        response = self.http.request(method, path, headers=headers, **options)
        if response.status_code not in expect:
            try:
                problem = response.json()
            except ValueError:
                problem = {"detail": response.text[:500]}
            raise ApiError(response.status_code, problem)
        return response

    def get(self, path: str) -> dict[str, Any] | None:
        """The resource, or None when it does not exist."""
        response = self.request("GET", path, expect=(200, 404))
        return response.json() if response.status_code == 200 else None

    def mutate(self, method: str, path: str, **options: Any) -> list[dict[str, Any]]:
        """A change: the operations it queued."""
        response = self.request(method, path, expect=(202,), **options)
        operations: list[dict[str, Any]] = response.json()["operations"]
        return operations

    def follow(self, operation_id: str, on_event: Callable[[str, dict[str, Any]], None]) -> dict[str, Any]:
        """Stream the operation's events until it ends (reconnecting after `Last-Event-ID` if the stream breaks);
        returns the finished operation."""
        last = "0"
        while True:
            try:
                with self.http.stream(
                    "GET",
                    f"/v1/operations/{operation_id}/events",
                    headers={"Authorization": f"Bearer {self.token()}", "Last-Event-ID": last},
                    timeout=httpx2.Timeout(30.0, read=None),
                ) as response:
                    for event in sse.events(response.iter_lines()):
                        last = event.id or last
                        on_event(event.kind, event.data)
            except httpx2.TransportError:
                time.sleep(1)
                continue
            operation = self.request("GET", f"/v1/operations/{operation_id}").json()
            if operation["status"] in FINISHED:
                return operation  # type: ignore[no-any-return]
