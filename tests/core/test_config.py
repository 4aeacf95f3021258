from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from core.config import KonsensSettingsBase, Settings, get_settings


def test_default_database_is_a_sqlite_file_under_konsens_home(isolated_settings: Path) -> None:
    settings = get_settings()
    assert settings.home == isolated_settings
    assert settings.effective_database_url == f"sqlite:///{isolated_settings / 'konsens.db'}"


def test_environment_overrides_and_is_validated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KONSENS_DATABASE_URL", "postgresql+psycopg2://u:secret@db/k")
    monkeypatch.setenv("KONSENS_DASHBOARD_PORT", "9000")
    settings = Settings()
    assert settings.dashboard_port == 9000
    assert "u:secret@" not in str(settings.sanitised())
    assert "***" in settings.sanitised()["database_url"]
    monkeypatch.setenv("KONSENS_DASHBOARD_PORT", "99999")
    with pytest.raises(ValidationError):
        Settings()


def test_config_file_is_read_and_env_wins(isolated_settings: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    isolated_settings.mkdir(parents=True, exist_ok=True)
    (isolated_settings / "config.toml").write_text('dashboard_port = 8600\nbase_currency = "EUR"\n[extra]\nvalue = 3\n')
    assert Settings().dashboard_port == 8600
    monkeypatch.setenv("KONSENS_DASHBOARD_PORT", "8700")
    assert Settings().dashboard_port == 8700


def test_an_area_settings_class_reads_its_own_table(isolated_settings: Path) -> None:
    class AreaSettings(KonsensSettingsBase):
        toml_table = "area"
        value: int = 1

    isolated_settings.mkdir(parents=True, exist_ok=True)
    (isolated_settings / "config.toml").write_text("[area]\nvalue = 7\n")
    assert AreaSettings().value == 7


def test_settings_are_frozen() -> None:
    settings = Settings()
    with pytest.raises(ValidationError):
        settings.dashboard_port = 1  # type: ignore[misc]
