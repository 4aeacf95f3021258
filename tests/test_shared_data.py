"""The one way tests reach files outside the repository: KONSENS_SHARED_DATA, skipped locally, failed under CI."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import shared_data


def test_a_missing_shared_file_fails_under_ci(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shared_data, "_CONFIGURED", str(tmp_path / "nowhere"))
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="set KONSENS_SHARED_DATA"):
        shared_data.shared_data_path("ohlcv", "SPY_1d.csv")


def test_a_missing_shared_file_is_skipped_outside_ci(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shared_data, "_CONFIGURED", str(tmp_path / "nowhere"))
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="is missing"):
        shared_data.SharedFolder("ohlcv") / "SPY_1d.csv"
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception):
        shared_data.shared_data_path()


def test_the_variable_says_where_the_shared_data_is(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "ohlcv").mkdir()
    (tmp_path / "ohlcv" / "SPY_1d.csv").write_text("date,open,high,low,close,volume\n")
    monkeypatch.setattr(shared_data, "_CONFIGURED", str(tmp_path))
    monkeypatch.setenv("CI", "true")
    assert shared_data.SharedFolder("ohlcv") / "SPY_1d.csv" == tmp_path / "ohlcv" / "SPY_1d.csv"
    assert shared_data.shared_data_root() == tmp_path


def test_the_default_is_the_shared_folder_beside_the_repository(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shared_data, "_CONFIGURED", None)
    repository = Path(__file__).resolve().parents[1]
    assert shared_data.shared_data_root() == repository.parent / "shared" / "data"
