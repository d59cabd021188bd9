"""A missing JDK names the path looked at, the service, the install command and the setting to change."""

from __future__ import annotations

from pathlib import Path

import pytest

from localplatform.errors import PlatformError
from localplatform.kafka import Kafka
from localplatform.keycloak import Keycloak
from localplatform.settings import PlatformSettings


def test_keycloak_without_its_jdk(tmp_path: Path) -> None:
    settings = PlatformSettings(data_dir=tmp_path, java25_home=tmp_path / "no-jdk")
    with pytest.raises(PlatformError) as caught:
        Keycloak(settings).java_home()
    message = str(caught.value)
    assert str(tmp_path / "no-jdk" / "bin" / "java") in message
    assert "FALCONE_JAVA25_HOME" in message
    assert "fix:" in message


def test_kafka_without_its_jdk(tmp_path: Path) -> None:
    settings = PlatformSettings(data_dir=tmp_path, cache_dir=tmp_path / "cache", java17_home=tmp_path / "no-jdk")
    with pytest.raises(PlatformError) as caught:
        Kafka(settings).install()
    message = str(caught.value)
    assert "openjdk-17" in message
    assert "FALCONE_JAVA17_HOME" in message
