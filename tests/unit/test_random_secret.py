from __future__ import annotations

import pytest

from components.providers.random import RandomSecret, RandomSecretProvider


def test_generated_once_with_the_requested_length() -> None:
    provider = RandomSecretProvider()
    first = provider.create({"length": 24, "keepers": {}})
    second = provider.create({"length": 24, "keepers": {}})
    assert first.outs is not None
    assert second.outs is not None
    assert len(first.outs["value"]) == 24
    assert first.outs["value"] != second.outs["value"]


def test_stable_unless_keepers_or_length_change() -> None:
    provider = RandomSecretProvider()
    olds = {"length": 24, "keepers": {"rotation": "1"}, "value": "x" * 24}
    assert provider.diff("id", olds, {"length": 24, "keepers": {"rotation": "1"}}).changes is False
    rotated = provider.diff("id", olds, {"length": 24, "keepers": {"rotation": "2"}})
    assert rotated.changes is True
    assert rotated.replaces


def test_length_bounds_are_enforced() -> None:
    with pytest.raises(ValueError, match="16 to 128"):
        RandomSecret("short", length=8)
