from __future__ import annotations

import pytest

from components.connections import Backends, PostgresConnection, VaultConnection


def test_backends_round_trip_through_stack_config() -> None:
    backends = Backends(
        postgres=PostgresConnection(dsn="postgresql://a:b@127.0.0.1:5/postgres"),
        vault=VaultConnection(address="http://127.0.0.1:8200", token="t"),
    )
    assert Backends.from_config(backends.to_config()) == backends
    assert set(backends.to_config()) == {"postgres", "vault"}


def test_unknown_backend_key_names_the_key() -> None:
    with pytest.raises(ValueError, match="unknown keys: redis"):
        Backends.from_config({"redis": {"url": "x"}})


def test_missing_field_is_refused() -> None:
    with pytest.raises(TypeError):
        Backends.from_config({"vault": {"address": "http://127.0.0.1:8200"}})
