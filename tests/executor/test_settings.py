"""The executor's settings as an environment: what the tests and benchmarks hand to `python -m executor`."""

from __future__ import annotations

import os

import pytest

from executor.settings import ExecutorSettings


def test_settings_are_read_back_from_their_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = ExecutorSettings(
        port=1234, vault_token="a-token", gateway_secret="a-secret", key_cache_ttl_s=1.5, s3_public_endpoint=None
    )
    environment = settings.as_environment()
    assert environment["FALCONE_EXECUTOR_VAULT_TOKEN"] == "a-token"  # the secret itself, not its mask
    assert "FALCONE_EXECUTOR_S3_PUBLIC_ENDPOINT" not in environment  # unset stays unset
    for name in list(os.environ):
        if name.startswith("FALCONE_EXECUTOR_"):
            monkeypatch.delenv(name)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    assert ExecutorSettings() == settings
