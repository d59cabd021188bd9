"""A small client of the automation API for the tests: tokens, 202 handling, waiting for operations."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import httpx2

from falcone.api_client import operator_token

FINISHED = ("succeeded", "failed", "cancelled")


@dataclass
class OperatorToken:
    """Client-credentials tokens of `in-falcone-operator` (platform_admin), renewed before they expire."""

    keycloak_url: str
    realm: str
    secret: str
    _token: str = ""
    _renew_at: float = 0.0

    def __call__(self) -> str:
        if time.monotonic() >= self._renew_at:
            self._token, lifetime = operator_token(self.keycloak_url, self.realm, self.secret)
            self._renew_at = time.monotonic() + lifetime / 2
        return self._token


@dataclass
class Api:
    base_url: str
    token: OperatorToken
    http: httpx2.Client = field(init=False)

    def __post_init__(self) -> None:
        self.http = httpx2.Client(base_url=self.base_url, timeout=30)

    def request(self, method: str, path: str, **options: Any) -> httpx2.Response:
        headers = {"Authorization": f"Bearer {self.token()}", **options.pop("headers", {})}
        return self.http.request(method, path, headers=headers, **options)

    def accepted(self, method: str, path: str, **options: Any) -> list[dict[str, Any]]:
        response = self.request(method, path, **options)
        assert response.status_code == 202, response.text
        operations: list[dict[str, Any]] = response.json()["operations"]
        assert response.headers["location"] == f"/v1/operations/{operations[0]['id']}"
        return operations

    def operation(self, operation_id: str) -> dict[str, Any]:
        response = self.request("GET", f"/v1/operations/{operation_id}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def wait(self, operation_id: str, timeout: float = 300) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            operation = self.operation(operation_id)
            if operation["status"] in FINISHED:
                return operation
            time.sleep(0.5)
        raise AssertionError(f"operation {operation_id} did not finish in {timeout}s: {self.operation(operation_id)}")

    def succeeded(self, operation_id: str, timeout: float = 300) -> dict[str, Any]:
        operation = self.wait(operation_id, timeout)
        assert operation["status"] == "succeeded", operation
        return operation

    def get(self, path: str) -> dict[str, Any]:
        response = self.request("GET", path)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body
