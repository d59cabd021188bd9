"""Unit tests are hermetic: the operator's FALCONE_* settings (ports, cache and data dirs) must not leak in."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True)
def _no_falcone_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [name for name in os.environ if name.startswith("FALCONE_")]:
        monkeypatch.delenv(name)
