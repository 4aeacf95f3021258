"""One override order in every area: arguments > database (Settings page) > environment > .env > TOML > defaults."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from core.ai.config import load_ai_config, save_consensus_parameters, save_provider_fields
from core.db.engine import Database
from core.execution.settings import load_trading_config
from core.risk.settings import load_limits, save_limits
from core.system.settings_store import set_setting
from core.tax.assumptions import load_assumptions, save_assumption_overrides


@dataclass(frozen=True)
class Area:
    """One setting of an area, set at every layer to a different value."""

    env_name: str
    toml: str  # "table.key"
    values: tuple[str, str, str, str, str]  # default, TOML, .env, environment, database
    save: Callable[[Session, str], None]
    read: Callable[[Session], Any]


def _ignore(_result: object) -> None:
    """Drop what a save function returns (the effective settings)."""


def _ai_quorum(session: Session, value: str) -> None:
    save_consensus_parameters(
        session, quorum=int(value), agreement_threshold=0.6, decision_threshold=0.15, weights={}, disabled_analysts=[]
    )


def _ollama_endpoint(session: Session) -> str | None:
    return {provider.name: provider for provider in load_ai_config(session).providers}["ollama"].endpoint


AREAS = {
    "risk": Area(
        "KONSENS_DAILY_LOSS_LIMIT_PCT",
        "risk.daily_loss_limit_pct",
        ("0.05", "0.04", "0.03", "0.02", "0.01"),
        lambda session, value: _ignore(save_limits(session, {"daily_loss_limit_pct": Decimal(value)}, actor="test")),
        lambda session: str(load_limits(session).daily_loss_limit_pct),
    ),
    "trading": Area(
        "KONSENS_TRADING_PAPER_SLIPPAGE",
        "trading.paper_slippage",
        ("0.0005", "0.001", "0.002", "0.003", "0.004"),
        lambda session, value: set_setting(session, "trading.paper_slippage", value),
        lambda session: str(load_trading_config(session).paper_slippage),
    ),
    "tax": Area(
        "KONSENS_TAX_TRANSFER_MATCH_WINDOW_HOURS",
        "tax.transfer_match_window_hours",
        ("48", "40", "30", "20", "10"),
        lambda session, value: _ignore(save_assumption_overrides(session, {"transfer_match_window_hours": int(value)})),
        lambda session: str(load_assumptions(session).transfer_match_window_hours),
    ),
    "ai parameters": Area(
        "KONSENS_QUORUM",
        "ai.quorum",
        ("2", "3", "4", "5", "6"),
        _ai_quorum,
        lambda session: str(load_ai_config(session).parameters.quorum),
    ),
    "ai providers": Area(
        "KONSENS_OLLAMA_HOST",
        "ai.ollama_host",
        ("None", "http://toml:11434", "http://dotenv:11434", "http://env:11434", "http://page:11434"),
        lambda session, value: save_provider_fields(session, {"ollama_host": value}),
        lambda session: str(_ollama_endpoint(session)),
    ),
}


def _toml_line(area: Area) -> str:
    table, key = area.toml.split(".")
    value = area.values[1]
    rendered = value if value.replace(".", "").isdigit() else f'"{value}"'
    return f"[{table}]\n{key} = {rendered}\n"


@pytest.mark.parametrize("name", list(AREAS))
def test_each_layer_wins_over_the_ones_below_it(
    name: str, sqlite_database: Database, isolated_settings: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    area = AREAS[name]
    default, from_toml, from_dotenv, from_environment, from_database = area.values
    workdir = tmp_path / "workdir"
    workdir.mkdir()
    monkeypatch.chdir(workdir)  # .env is read from the working directory

    def effective() -> str:
        with sqlite_database.session() as session:
            return str(area.read(session))

    assert effective() == default
    isolated_settings.mkdir(parents=True, exist_ok=True)
    (isolated_settings / "config.toml").write_text(_toml_line(area))
    assert effective() == from_toml
    (workdir / ".env").write_text(f"{area.env_name}={from_dotenv}\n")
    assert effective() == from_dotenv
    monkeypatch.setenv(area.env_name, from_environment)
    assert effective() == from_environment
    with sqlite_database.session() as session:
        area.save(session, from_database)
    assert effective() == from_database


def test_arguments_win_over_the_database(sqlite_database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KONSENS_TAX_FIFO_2022", "false")
    with sqlite_database.session() as session:
        save_assumption_overrides(session, {"fifo_2022": True})
        assert load_assumptions(session).fifo_2022 is True
        assert load_assumptions(session, fifo_2022=False).fifo_2022 is False
