from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import ValidationError

from core.config import (
    NOT_SETTINGS_ENV_NAMES,
    ConfigurationError,
    KonsensSettingsBase,
    Settings,
    check_configuration,
    get_settings,
    load_root_settings,
    settings_classes,
)
from core.risk.settings import RiskLimits


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
    (isolated_settings / "config.toml").write_text("dashboard_port = 8600\n[ai]\nquorum = 3\n")
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
        settings.dashboard_port = 1


# --- the root settings and the start-up check ----------------------------------------------------

AREA_SECTIONS = {
    "core": "core.config.Settings",
    "ai": "core.ai.config.AISettings",
    "market": "core.market.settings.MarketSettings",
    "news": "core.news.settings.NewsSettings",
    "trading": "core.execution.settings.TradingSettings",
    "risk_limits": "core.risk.settings.RiskLimits",
    "risk_alert": "core.risk.settings.AlertSettings",
    "risk_sizing": "core.risk.settings.SizingSettings",
    "tax_assumptions": "core.tax.assumptions.TaxAssumptions",
    "observability": "core.observability.settings.ObservabilitySettings",
    "jobs": "core.jobs.settings.JobsSettings",
}


def _classes_in_the_source() -> set[str]:
    """Every class statement under core/ and workers/ that names KonsensSettingsBase as a base (by AST)."""
    import ast

    root = Path(__file__).resolve().parents[2]
    found = set()
    for package in ("core", "workers"):
        for path in (root / package).rglob("*.py"):
            module = ".".join(path.relative_to(root).with_suffix("").parts)
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.ClassDef) and any(
                    getattr(base, "id", getattr(base, "attr", None)) == "KonsensSettingsBase" for base in node.bases
                ):
                    found.add(f"{module}.{node.name}")
    return found


def test_the_root_has_one_section_per_settings_class_found_in_the_code() -> None:
    root = load_root_settings()
    sections = {name: f"{type(section).__module__}.{type(section).__name__}" for name, section in root.sections.items()}
    assert {name: sections[name] for name in AREA_SECTIONS} == AREA_SECTIONS
    # every class in the source is a section (a class another area adds is found the same way)
    assert set(sections.values()) == _classes_in_the_source() | {"core.config.Settings"}
    assert root.risk_limits.daily_loss_limit_pct == Decimal("0.05")  # type: ignore[attr-defined]
    assert root.section(RiskLimits) is root.risk_limits
    assert root.core.home == get_settings().home


def test_every_field_of_every_section_has_an_accepted_environment_name() -> None:
    for cls in settings_classes():
        for name in cls.env_names():
            check_configuration(environ={name: "x"}, dotenv_path=Path("/nonexistent/.env"))


def test_present_flat_environment_names_are_kept() -> None:
    names = {name for cls in settings_classes() for name in cls.env_names()}
    assert {
        "KONSENS_DATABASE_URL",
        "KONSENS_DAILY_LOSS_LIMIT_PCT",
        "KONSENS_MAX_ORDER_NOTIONAL_EUR",
        "KONSENS_WEBHOOK_URL",
        "KONSENS_FIXED_FRACTION",
        "KONSENS_OLLAMA_HOST",
        "KONSENS_QUORUM",
        "KONSENS_MARKET_INTERVAL_SECONDS",
        "KONSENS_NEWS_RSS_INTERVAL_SECONDS",
        "KONSENS_TRADING_PAPER_SLIPPAGE",
        "KONSENS_TAX_FIFO_2022",
    } <= names


def test_only_the_known_environment_name_is_shared_by_two_sections() -> None:
    owners: dict[str, list[str]] = {}
    for cls in settings_classes():
        for name in cls.env_names():
            owners.setdefault(name, []).append(cls.section())
    shared = {name: sorted(sections) for name, sections in owners.items() if len(sections) > 1}
    # ai.news_lookback_hours and news.lookback_hours: one variable sets both (kept for compatibility)
    assert shared == {"KONSENS_NEWS_LOOKBACK_HOURS": ["ai", "news"]}


def test_a_misspelt_variable_is_refused_with_the_closest_valid_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KONSENS_DAILY_LOS_LIMIT_PCT", "2")
    with pytest.raises(ConfigurationError) as refused:
        load_root_settings()
    assert str(refused.value) == (
        "unknown setting KONSENS_DAILY_LOS_LIMIT_PCT; did you mean KONSENS_DAILY_LOSS_LIMIT_PCT? (environment)"
    )


def test_every_unknown_name_is_listed_and_a_far_one_gets_no_guess() -> None:
    with pytest.raises(ConfigurationError) as refused:
        check_configuration(environ={"KONSENS_TRADING_PAPER_SLIPAGE": "0", "KONSENS_ZZZ": "1", "PATH": "/bin"})
    message = str(refused.value)
    assert "KONSENS_TRADING_PAPER_SLIPAGE; did you mean KONSENS_TRADING_PAPER_SLIPPAGE?" in message
    assert "unknown setting KONSENS_ZZZ (environment)" in message
    assert "PATH" not in message


def test_names_that_are_not_settings_are_accepted() -> None:
    check_configuration(
        environ={name: "/somewhere" for name in NOT_SETTINGS_ENV_NAMES} | {"OTHER_TOOL_SETTING": "1"},
        dotenv_path=Path("/nonexistent/.env"),
    )
    assert {"KONSENS_HOME", "KONSENS_CONFIG", "KONSENS_TEST_PG_URL", "KONSENS_SHARED_DATA"} <= NOT_SETTINGS_ENV_NAMES


def test_a_lower_case_variable_is_checked_too_because_it_is_read_too() -> None:
    with pytest.raises(ConfigurationError, match="did you mean KONSENS_MAX_DRAWDOWN_PCT"):
        check_configuration(environ={"konsens_max_drawdwn_pct": "0.2"})


def test_an_unknown_name_in_the_dotenv_file_is_refused(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("KONSENS_LOG_LEVEL=DEBUG\nKONSENS_LOG_LEVL=DEBUG\nOTHER=1\n")
    with pytest.raises(ConfigurationError) as refused:
        check_configuration(environ={}, dotenv_path=dotenv)
    assert str(refused.value) == f"unknown setting KONSENS_LOG_LEVL; did you mean KONSENS_LOG_LEVEL? (in {dotenv})"


def test_unknown_toml_keys_are_refused_with_the_closest_valid_key(isolated_settings: Path) -> None:
    isolated_settings.mkdir(parents=True, exist_ok=True)
    path = isolated_settings / "config.toml"
    path.write_text(
        "dashboard_prot = 8600\n"
        "[risk]\ndaily_loss_limit_pct = 0.02\nmax_drawdon_pct = 0.2\n"
        "[trading]\npaper_slippage = 0.001\n"
        "[riks]\ncooldown_minutes = 5\n"
    )
    with pytest.raises(ConfigurationError) as refused:
        check_configuration(environ={})
    problems = str(refused.value).split("; did you mean ")
    message = str(refused.value)
    assert f"unknown config key dashboard_prot; did you mean dashboard_port? (in {path})" in message
    assert f"unknown config key risk.max_drawdon_pct; did you mean risk.max_drawdown_pct? (in {path})" in message
    assert "unknown config key riks" in message
    assert "daily_loss_limit_pct" not in message and "paper_slippage" not in message
    assert len(problems) >= 3


def test_a_key_of_another_table_at_the_top_level_suggests_its_table(isolated_settings: Path) -> None:
    isolated_settings.mkdir(parents=True, exist_ok=True)
    (isolated_settings / "config.toml").write_text("daily_loss_limit_pct = 0.02\n")
    with pytest.raises(ConfigurationError, match=r"did you mean risk\.daily_loss_limit_pct\?"):
        check_configuration(environ={})


def test_a_config_file_that_is_not_toml_is_refused(isolated_settings: Path) -> None:
    isolated_settings.mkdir(parents=True, exist_ok=True)
    (isolated_settings / "config.toml").write_text("dashboard_port = = 1\n")
    with pytest.raises(ConfigurationError, match="cannot be read as TOML"):
        check_configuration(environ={})


def test_the_removed_settings_are_refused_with_the_reason(isolated_settings: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"KONSENS_BASE_CURRENCY was removed: .* always in EUR"):
        check_configuration(environ={"KONSENS_BASE_CURRENCY": "USD"})
    isolated_settings.mkdir(parents=True, exist_ok=True)
    (isolated_settings / "config.toml").write_text('display_timezone = "UTC"\n')
    with pytest.raises(ConfigurationError, match=r"display_timezone was removed: .* Europe/Vienna"):
        check_configuration(environ={})
    assert "base_currency" not in Settings.model_fields and "display_timezone" not in Settings.model_fields


def test_an_invalid_value_is_refused_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KONSENS_MAX_DRAWDOWN_PCT", "2")
    with pytest.raises(ConfigurationError, match=r"KONSENS_MAX_DRAWDOWN_PCT .*less than or equal to 1"):
        load_root_settings()


def test_the_sanitised_root_shows_no_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KONSENS_DEEPSEEK_API_KEY", "sk-very-secret")
    monkeypatch.setenv("KONSENS_DATABASE_URL", "postgresql+psycopg2://u:pw-secret@db/k")
    shown = load_root_settings().sanitised()
    assert "sk-very-secret" not in str(shown) and "pw-secret" not in str(shown)
    assert shown["ai"]["deepseek_api_key"] == "**********"
    assert set(shown) == set(AREA_SECTIONS)


def test_two_settings_classes_claiming_one_section_stop_the_start(monkeypatch: pytest.MonkeyPatch) -> None:
    import core.config

    class First(KonsensSettingsBase):
        section_name = "twice"

    class Second(KonsensSettingsBase):
        section_name = "twice"

    monkeypatch.setattr(core.config, "settings_classes", lambda: [First, Second])
    with pytest.raises(ConfigurationError, match="share section twice"):
        load_root_settings()


def test_every_environment_name_has_the_konsens_prefix() -> None:
    # check_startup's fast path relies on it: a section reads no variable outside KONSENS_*.
    outside = {name for cls in settings_classes() for name in cls.env_names() if not name.startswith("KONSENS_")}
    assert outside == set()


def test_with_only_core_settings_the_start_validates_the_core_and_loads_the_areas_on_use(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from core.config import _only_core_configured, check_startup

    monkeypatch.setenv("KONSENS_LOG_LEVEL", "WARNING")
    assert _only_core_configured()
    root = check_startup()
    assert root.core.log_level.value == "WARNING"
    full = load_root_settings()
    assert {name: type(section) for name, section in root.sections.items()} == {
        name: type(section) for name, section in full.sections.items()
    }
    assert root.section(RiskLimits) == full.section(RiskLimits)


def test_an_area_variable_a_dotenv_or_a_config_file_takes_the_full_check(
    isolated_settings: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from core.config import _only_core_configured, check_startup

    assert _only_core_configured(environ={"KONSENS_HOME": "/x", "KONSENS_DATABASE_URL": "sqlite://", "PATH": "/"})
    assert not _only_core_configured(environ={"KONSENS_MAX_DRAWDOWN_PCT": "0.2"})
    assert not _only_core_configured(environ={"konsens_no_such_name": "1"})
    monkeypatch.setenv("KONSENS_MAX_DRAWDOWN_PCT", "2")
    with pytest.raises(ConfigurationError, match=r"KONSENS_MAX_DRAWDOWN_PCT .*less than or equal to 1"):
        check_startup()
    monkeypatch.delenv("KONSENS_MAX_DRAWDOWN_PCT")
    isolated_settings.mkdir(parents=True, exist_ok=True)
    (isolated_settings / "config.toml").write_text("[risk]\nmax_drawdown_pct = 2\n")
    assert not _only_core_configured()
    with pytest.raises(ConfigurationError, match="max_drawdown_pct"):
        check_startup()
    (isolated_settings / "config.toml").unlink()
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("KONSENS_MAX_DRAWDOWN_PCT=0.2\n")
    assert not _only_core_configured()


def test_an_invalid_core_value_is_refused_with_the_same_message_on_both_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    from core.config import check_startup

    monkeypatch.setenv("KONSENS_DASHBOARD_PORT", "99999")
    with pytest.raises(ConfigurationError) as full:
        load_root_settings()
    with pytest.raises(ConfigurationError) as fast:
        check_startup()
    assert str(fast.value) == str(full.value)
    assert str(fast.value).startswith("invalid settings: KONSENS_DASHBOARD_PORT (or dashboard_port in the config file)")
