"""AppTest of pages/tax.py on the demo database and on a small real ledger, and of Settings → Tax."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from core.db.engine import Database
from core.tax.koinly import import_koinly_file
from core.tax.report import DEMO_NOTICE
from tests.core.tax.conftest import EXCHANGE_ROWS, LEDGER_ROWS, write_koinly

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _page(path: str = "pages/tax.py") -> AppTest:
    app = AppTest.from_file(str(PROJECT_ROOT / path), default_timeout=60)
    app.session_state["authentication_status"] = True
    app.session_state["username"] = "demo"
    return app


def test_tax_page_on_demo_data(demo_database: Database) -> None:
    app = _page()
    app.run()
    assert not app.exception
    assert any(DEMO_NOTICE in warning.value for warning in app.warning)
    assert app.selectbox(key="tax_year").options
    labels = [metric.label for metric in app.metric]
    assert {"Realised gains", "Realised losses", "Current income", "Tax 27.5 %", "KESt withheld (KZ 899)"} <= set(
        labels
    )
    kennzahlen = app.dataframe[0].value
    assert list(kennzahlen["Kennzahl"]) == ["171", "172", "173", "174", "175", "176", "899", "E1-801"]
    detail = app.dataframe[1].value
    assert len(detail) > 0 and "Rule applied" in detail.columns
    assert app.get("download_button")
    assert len(app.get("download_button")) == 4


def test_tax_page_on_a_real_ledger_filters_and_warning_links(configured_sqlite: Database, tmp_path: Path) -> None:
    with configured_sqlite.session() as session:
        import_koinly_file(session, write_koinly(tmp_path / "k.csv", EXCHANGE_ROWS), "kraken")
        import_koinly_file(session, write_koinly(tmp_path / "l.csv", LEDGER_ROWS[1:]), "ledger")  # no matching deposit
    app = _page()
    app.run()
    assert not app.exception
    assert not any(DEMO_NOTICE in warning.value for warning in app.warning)
    app.selectbox(key="tax_year").set_value(2024).run()
    gains = next(metric for metric in app.metric if metric.label == "Realised gains")
    assert gains.value == "€ 17,431.25"  # ETH 2431.25 + BTC 15000 sold without a known acquisition
    kennzahlen = app.dataframe[0].value
    assert kennzahlen.set_index("Kennzahl").loc["174", "EUR"] == "17,431.25"
    all_rows = len(app.dataframe[1].value)
    assert all_rows == 2
    app.multiselect(key="tax_wallets").set_value(["ledger"]).run()
    assert list(app.dataframe[1].value["Wallet"]) == ["ledger"]
    app.multiselect(key="tax_wallets").set_value([]).run()
    # warning 0 summarises 2023 (the unmatched withdrawal); warning 1 is the sale without acquisition
    app.button(key="warning_rows_1").click().run()
    filtered = app.dataframe[1].value
    assert list(filtered["Wallet"]) == ["ledger"]
    assert any("Showing the rows behind a warning" in info.value for info in app.info)
    app.button(key="clear_row_filter").click().run()
    assert len(app.dataframe[1].value) == all_rows


def test_tax_page_with_an_empty_ledger(configured_sqlite: Database) -> None:
    app = _page()
    app.run()
    assert not app.exception
    assert "ledger is empty" in app.info[0].value


def test_tax_settings_section_saves_wallets_and_assumptions(configured_sqlite: Database, tmp_path: Path) -> None:
    with configured_sqlite.session() as session:
        import_koinly_file(session, write_koinly(tmp_path / "k.csv", EXCHANGE_ROWS), "kraken")
    app = _page("pages/settings.py")
    app.run()
    assert not app.exception
    app.checkbox(key="tax_wallet_kraken").check()
    next(button for button in app.button if button.label == "Save wallets").click()
    app.run()
    assert any(success.value == "Wallets saved." for success in app.success)
    app.checkbox(key="tax_assumption_fifo_2022").uncheck()
    next(button for button in app.button if button.label == "Save assumptions").click()
    app.run()
    assert any(success.value == "Assumptions saved." for success in app.success)
    from core.tax.assumptions import load_assumptions
    from core.tax.report import wallet_infos

    with configured_sqlite.session() as session:
        assert load_assumptions(session).fifo_2022 is False
        assert [info.domestic for info in wallet_infos(session, load_assumptions(session))] == [True]


def test_tax_page_warns_about_rows_that_need_review(configured_sqlite: Database, tmp_path: Path) -> None:
    rows = ["2024-01-05 10:00,10000,EUR,0.25,BTC,,,,,,,", "2024-03-06 10:00,0.001,BTC,,,,,50,EUR,Bribe,,"]
    with configured_sqlite.session() as session:
        import_koinly_file(session, write_koinly(tmp_path / "k.csv", rows), "ledger")
    app = _page()
    app.run()
    assert not app.exception
    assert any("1 imported row(s) of an unknown type need review" in warning.value for warning in app.warning)
    assert any("unknown tag 'bribe'" in markdown.value for markdown in app.markdown)
