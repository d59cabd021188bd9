from pathlib import Path

import pytest

from localplatform import settings as settings_module
from localplatform.settings import PlatformSettings, env_var


def test_defaults() -> None:
    s = PlatformSettings()
    assert s.data_dir == settings_module.REPO_ROOT / ".data"
    assert s.cache_dir == Path.home() / ".cache" / "falcone"
    assert (s.postgres_port, s.keycloak_port, s.kafka_port, s.kafka_controller_port) == (
        55432,
        18080,
        19092,
        19093,
    )
    assert (s.minio_port, s.minio_console_port, s.openbao_port, s.mongo_port) == (19000, 19001, 18200, 27117)
    assert s.host == "127.0.0.1"
    assert s.postgres_admin_user == "falcone_admin"
    assert len(s.minio_root_password) >= 8
    assert s.platform_file == s.data_dir / "platform.json"
    assert s.tools_dir == s.cache_dir / "tools"


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FALCONE_POSTGRES_PORT", "55999")
    monkeypatch.setenv("FALCONE_DATA_DIR", str(tmp_path))
    s = PlatformSettings()
    assert s.postgres_port == 55999
    assert s.data_dir == tmp_path
    assert s.logs_dir == tmp_path / "logs"


def test_invalid_port_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FALCONE_MONGO_PORT", "70000")
    with pytest.raises(ValueError, match="mongo_port"):
        PlatformSettings()


def test_env_var_names_match_fields() -> None:
    assert env_var("kafka_controller_port") == "FALCONE_KAFKA_CONTROLLER_PORT"
    assert "kafka_controller_port" in PlatformSettings.model_fields


def test_data_dir_is_git_ignored() -> None:
    gitignore = (settings_module.REPO_ROOT / ".gitignore").read_text().splitlines()
    assert ".data/" in gitignore
