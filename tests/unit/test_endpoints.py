from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from localplatform import endpoints
from localplatform.endpoints import (
    KafkaEndpoint,
    MinioEndpoint,
    MongoEndpoint,
    PlatformEndpoints,
    PostgresEndpoint,
)


def _sample() -> PlatformEndpoints:
    return PlatformEndpoints(
        written_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        postgres=PostgresEndpoint(host="127.0.0.1", port=55432, admin_user="falcone_admin", admin_password="p@ss/w"),
        kafka=KafkaEndpoint(bootstrap_servers="127.0.0.1:19092", admin_user="admin", admin_password="k"),
        minio=MinioEndpoint(
            endpoint_url="http://127.0.0.1:19000",
            console_url="http://127.0.0.1:19001",
            access_key="a",
            secret_key="s",
        ),
    )


def test_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "platform.json"
    endpoints.save(_sample(), path)
    assert endpoints.load(path) == _sample()
    assert path.stat().st_mode & 0o777 == 0o600
    assert '"keycloak"' not in path.read_text()  # services not running are left out


def test_load_default_path_follows_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FALCONE_DATA_DIR", str(tmp_path))
    endpoints.save(_sample(), tmp_path / "platform.json")
    assert endpoints.load().postgres == _sample().postgres


def test_load_missing_file_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        endpoints.load(tmp_path / "nope.json")


def test_unknown_fields_rejected(tmp_path: Path) -> None:
    path = tmp_path / "platform.json"
    path.write_text('{"written_at": "2026-01-01T00:00:00Z", "surprise": {}}')
    with pytest.raises(ValidationError):
        endpoints.load(path)


def test_connection_strings_quote_credentials() -> None:
    sample = _sample()
    assert sample.postgres is not None
    assert sample.minio is not None
    assert sample.postgres.dsn == "postgresql://falcone_admin:p%40ss%2Fw@127.0.0.1:55432/postgres"
    assert sample.minio.host_port == "127.0.0.1:19000"
    mongo = MongoEndpoint(host="127.0.0.1", port=27117, admin_user="u", admin_password="a:b")
    assert mongo.uri == "mongodb://u:a%3Ab@127.0.0.1:27117/?authSource=admin"
