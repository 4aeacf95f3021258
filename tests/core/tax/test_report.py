"""The report over a real database: loading, EUR values from prices, wallets, KESt entries, demo notice, exports."""

from __future__ import annotations

import gc
import io
import os
import subprocess
import threading
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import load_workbook

import core.tax.report as report_module
from core.db.engine import Database
from core.market.models import AssetClass, Candle, Instrument
from core.portfolio.models import LedgerEntry, LedgerKind, LedgerOrigin
from core.tax.assumptions import TaxAssumptions, load_assumptions, save_assumption_overrides
from core.tax.engine import EngineResult, Totals, WalletResult
from core.tax.export import render_report
from core.tax.koinly import import_koinly_file
from core.tax.report import DEMO_NOTICE, TaxReport, build_report, heap_frozen, report_years
from core.tax.settings import add_kest_entry, set_wallet_domestic
from tests.core.tax.conftest import write_koinly


def _bitpanda_sale(session, external_id: str, ts: datetime, quantity: str, eur: str, kest: str | None) -> None:
    session.add(
        LedgerEntry(
            ts=ts,
            account="bitpanda",
            kind=LedgerKind.SELL,
            origin=LedgerOrigin.BITPANDA_CSV,
            external_id=external_id,
            sent_asset="BTC",
            sent_quantity=Decimal(quantity),
            received_asset="EUR",
            received_quantity=Decimal(eur),
            value_eur=Decimal(eur),
            kest_withheld_eur=Decimal(kest) if kest else None,
            asset_class="crypto",
            raw={"Tax Fiat": kest},
        )
    )


def test_report_over_two_koinly_wallets_and_bitpanda(database: Database, exchange_csv: Path, ledger_csv: Path) -> None:
    with database.session() as session:
        import_koinly_file(session, exchange_csv, "kraken")
        import_koinly_file(session, ledger_csv, "ledger")
        session.add(
            LedgerEntry(
                ts=datetime(2024, 1, 5, 10, tzinfo=UTC),
                account="bitpanda",
                kind=LedgerKind.BUY,
                origin=LedgerOrigin.BITPANDA_CSV,
                external_id="bp-1",
                sent_asset="EUR",
                sent_quantity=Decimal(30000),
                received_asset="BTC",
                received_quantity=Decimal("1"),
                value_eur=Decimal(30000),
                asset_class="crypto",
            )
        )
        _bitpanda_sale(session, "bp-2", datetime(2024, 6, 5, 10, tzinfo=UTC), "0.5", "20000", "1375")
        add_kest_entry(session, year=2024, wallet="bitpanda", amount_eur=Decimal("10.00"))
    with database.session() as session:
        report = build_report(session, 2024)
    data = report.to_json()
    # kraken: 1 BTC cost 20010 (fee included); 0.5 BTC swapped: ETH carries 10005; staking 0.2 ETH at cost 0;
    # 3 of 7.2 ETH sold for 6600
    eth_cost = Decimal("10005") / Decimal("7.2") * 3
    # 0.25 BTC + 0.0001 BTC fee left kraken; the fee units' cost is carried to the ledger wallet; sold for 15000
    btc_cost = Decimal("20010") * Decimal("0.2501")
    expected_foreign = (Decimal(6600) - eth_cost) + (Decimal(15000) - btc_cost)
    assert data["kennzahlen"]["174"] == f"{expected_foreign.quantize(Decimal('0.01'))}"
    assert data["kennzahlen"]["173"] == "5000.00"  # bitpanda: 20000 − 15000, KESt withheld
    assert data["kennzahlen"]["899"] == "1385.00"  # 1375 from the ledger + 10 entered
    assert data["kest_withheld_eur"] == "1385.00"
    assert not [w for w in data["warnings"] if w["code"] == "unmatched_transfer"]  # matched by TxHash
    assert not [w for w in data["warnings"] if w["code"] == "demo_data"]
    (line,) = report.kest_reconciliation()
    assert (line.wallet, line.net, line.kest_expected, line.kest_withheld) == (
        "bitpanda",
        Decimal("5000.00"),
        Decimal("1375.00"),
        Decimal("1385.00"),
    )


def test_wallet_settings_override_the_domestic_default(sqlite_database: Database) -> None:
    with sqlite_database.session() as session:
        _bitpanda_sale(session, "bp-x", datetime(2024, 6, 5, tzinfo=UTC), "1", "100", None)
        set_wallet_domestic(session, "bitpanda", domestic=False)
    with sqlite_database.session() as session:
        report = build_report(session, 2024)
    assert report.kennzahlen()["174"] == Decimal("100.00")
    assert [info.domestic for info in report.wallets] == [False]


def test_missing_values_come_from_collected_prices(sqlite_database: Database, tmp_path: Path) -> None:
    with sqlite_database.session() as session:
        instrument = Instrument(symbol="BTC/EUR", base="BTC", quote="EUR", asset_class=AssetClass.CRYPTO)
        session.add(instrument)
        session.flush()
        session.add(
            Candle(
                instrument_id=instrument.id,
                source="test",
                timeframe="1h",
                ts=datetime(2024, 3, 1, 9, tzinfo=UTC),
                open=Decimal(50000),
                high=Decimal(50000),
                low=Decimal(50000),
                close=Decimal(50000),
                volume=Decimal(1),
            )
        )
        path = write_koinly(
            tmp_path / "k.csv",
            [
                "2024-03-01 10:00,,,0.1,BTC,,,,,loan interest,,",  # no net worth: priced from candles
                "2024-03-02 10:00,,,5,XYZ,,,,,mining,,",  # no price anywhere: a warning
            ],
        )
        import_koinly_file(session, path, "nexo")
    with sqlite_database.session() as session:
        report = build_report(session, 2024)
    assert report.summary()["current_income_eur"] == Decimal("5000.00")
    assert [w.code.value for w in report.warnings] == ["value_missing"]


def test_assumption_overrides_are_stored_and_listed(sqlite_database: Database) -> None:
    with sqlite_database.session() as session:
        save_assumption_overrides(session, {"fifo_2022": False, "transfer_fee_treatment": "drop_cost"})
    with sqlite_database.session() as session:
        assumptions = load_assumptions(session)
        report = build_report(session, 2024)
    assert assumptions.fifo_2022 is False
    listed = {row["key"]: row["value"] for row in report.to_json()["assumptions"]}
    assert listed["fifo_2022"] == "false"
    assert listed["transfer_fee_treatment"] == "drop_cost"
    assert "negative_balance_cost" in listed


def test_paper_trades_are_left_out_by_default(sqlite_database: Database) -> None:
    with sqlite_database.session() as session:
        session.add(
            LedgerEntry(
                ts=datetime(2024, 2, 1, tzinfo=UTC),
                account="paper",
                kind=LedgerKind.SELL,
                origin=LedgerOrigin.PAPER,
                external_id="p1",
                sent_asset="BTC",
                sent_quantity=Decimal(1),
                received_asset="EUR",
                received_quantity=Decimal(100),
                asset_class="crypto",
            )
        )
    with sqlite_database.session() as session:
        report = build_report(session, 2024)
    assert report.rows == []
    assert [w.code.value for w in report.warnings] == ["paper_excluded"]


def test_row_dates_are_iso_times_of_the_ledger_entries_with_and_without_microseconds(database: Database) -> None:
    """The loader takes each row's ISO time from the stored text on SQLite: it must equal ``isoformat()``."""
    times = [datetime(2024, 3, 1, 9, 30, tzinfo=UTC), datetime(2024, 3, 2, 23, 59, 59, 250_000, tzinfo=UTC)]
    with database.session() as session:
        for number, ts in enumerate(times):
            session.add(
                LedgerEntry(
                    ts=ts,
                    account="kraken",
                    kind=LedgerKind.BUY,
                    origin=LedgerOrigin.MANUAL,
                    external_id=f"t{number}",
                    sent_asset="EUR",
                    sent_quantity=Decimal(100),
                    received_asset="BTC",
                    received_quantity=Decimal("0.01"),
                    asset_class="crypto",
                )
            )
    with database.session() as session:
        report = build_report(session, 2024)
    dates = [row["date"] for row in report.to_json()["transactions"]]
    assert dates == ["2024-03-01T09:30:00+00:00", "2024-03-02T23:59:59.250000+00:00"]
    assert dates == [ts.isoformat() for ts in times]
    assert [row.ts for row in report.rows] == times


def test_demo_database_report_says_so_in_every_format(demo_database: Database, tmp_path: Path) -> None:
    with demo_database.session() as session:
        from core.tax.report import report_years

        year = report_years(session)[0]
        report = build_report(session, year)
    assert report.demo
    assert report.to_json()["warnings"][0]["code"] == "demo_data"
    assert render_report(report, "csv").decode().startswith(f"# {DEMO_NOTICE}")
    workbook = load_workbook(io.BytesIO(render_report(report, "xlsx")))
    assert len(workbook.sheetnames) == 7
    assert all(workbook[name]["A1"].value == DEMO_NOTICE for name in workbook.sheetnames)
    pdf = tmp_path / "demo.pdf"
    pdf.write_bytes(render_report(report, "pdf"))
    text = _pdf_pages(pdf)
    assert len(text) >= 2
    assert all("DEMO DATA" in page for page in text)
    assert "tax adviser" in text[0]


def test_pdf_has_every_section(sqlite_database: Database, exchange_csv: Path, tmp_path: Path) -> None:
    with sqlite_database.session() as session:
        import_koinly_file(session, exchange_csv, "kraken")
    with sqlite_database.session() as session:
        report = build_report(session, 2023)
    pdf = tmp_path / "r.pdf"
    pdf.write_bytes(render_report(report, "pdf"))
    text = "\n".join(_pdf_pages(pdf))
    for section in (
        "Summary",
        "Kennzahlen to type into the E 1kv",
        "Alt- / Neuvermögen",
        "KESt reconciliation",
        "Per-transaction detail",
        "Assumptions",
        "tax adviser",
    ):
        assert section in text
    assert "DEMO DATA" not in text


def _pdf_pages(path: Path) -> list[str]:
    try:
        output = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, check=True, text=True)
    except FileNotFoundError:
        if os.environ.get("CI"):
            pytest.fail("pdftotext (poppler-utils) is required in CI")
        pytest.skip("pdftotext (poppler-utils) is not installed")
    return [page for page in output.stdout.split("\f") if page.strip()]


def test_heap_frozen_nests_overlaps_across_threads_keeps_the_collector_on_and_unfreezes() -> None:
    def nested_then_fail() -> None:
        with heap_frozen():
            frozen = gc.get_freeze_count()
            assert frozen > 0 and gc.isenabled()  # frozen, not paused: collections go on
            with heap_frozen():
                assert gc.isenabled()
            # the inner block must not unfreeze (the count itself may drop: a frozen object that dies leaves it)
            assert report_module._freeze_depth == 1 and gc.get_freeze_count() > frozen // 2
            raise RuntimeError

    with pytest.raises(RuntimeError):
        nested_then_fail()
    assert report_module._freeze_depth == 0  # closed after an exception
    with heap_frozen():
        pass
    assert gc.get_freeze_count() == 0 or report_module._freeze_depth > 0  # unfrozen unless another block is open

    inside, release = threading.Event(), threading.Event()

    def other_report() -> None:
        with heap_frozen():
            inside.set()
            release.wait(5)

    thread = threading.Thread(target=other_report)
    with heap_frozen():
        thread.start()
        inside.wait(5)
    assert gc.get_freeze_count() > 0 and report_module._freeze_depth == 1  # the other thread's block is still open
    release.set()
    thread.join(5)
    assert report_module._freeze_depth == 0


def test_a_cycle_made_during_a_report_is_collected_by_the_running_collector() -> None:
    class Node:
        partner: object = None

    with heap_frozen():
        first, second = Node(), Node()
        first.partner, second.partner = second, first
        del first, second
        assert gc.collect() >= 2  # new objects are not frozen: the cycle goes


def _report_with(totals: Totals, wallets: dict[str, WalletResult] | None = None) -> TaxReport:
    result = EngineResult(year=2024, totals=totals, rows=[], warnings=[], wallets=wallets or {}, holdings={})
    return TaxReport(year=2024, result=result, assumptions=TaxAssumptions(), demo=False, wallets=[])


def test_summary_totals_are_the_sums_of_the_kennzahlen_shown() -> None:
    """Half a cent at a domestic and half a cent at a foreign provider: KZ 173 0.01 + KZ 174 0.01 is 0.02 gains.

    Rounding the unrounded sum instead (0.01) showed totals the typed-in Kennzahlen do not add up to.
    """
    half = Decimal("0.005")
    totals = Totals(
        gains_withholding=half,
        gains_other=half,
        losses_withholding=half,
        losses_other=half,
        income_withholding=half,
        income_other=Decimal("100.005"),
    )
    report = _report_with(totals)
    kz = report.kennzahlen()
    summary = report.summary()
    assert summary["realised_gains_eur"] == kz["173"] + kz["174"] == Decimal("0.02")
    assert summary["realised_losses_eur"] == kz["175"] + kz["176"] == Decimal("0.02")
    assert summary["current_income_eur"] == kz["171"] + kz["172"] == Decimal("100.02")
    assert summary["net_eur"] == Decimal("100.02")
    assert summary["tax_eur"] == Decimal("27.51")  # 27.5 % of 100.02 = 27.5055, half up
    data = report.to_json()
    assert data["neu"]["realised_gains_eur"] == "0.02"
    assert data["neu"]["net_eur"] == "100.02"
    settlement = report.kest_settlement()
    assert settlement["foreign_only_net_eur"] == kz["174"] - kz["176"] + kz["172"] == Decimal("100.01")


def test_kest_line_adds_up_as_shown() -> None:
    wallet = WalletResult(
        wallet="bitpanda", domestic=True, withholding_gains=Decimal("100.005"), withholding_income=Decimal("0.005")
    )
    (line,) = _report_with(Totals(), {"bitpanda": wallet}).kest_reconciliation()
    assert (line.gains, line.losses, line.income) == (Decimal("100.01"), Decimal("0.00"), Decimal("0.01"))
    assert line.net == line.gains - line.losses + line.income == Decimal("100.02")
    assert line.kest_expected == Decimal("27.51")  # 27.5 % of 100.02 = 27.5055


def test_report_years_are_vienna_years_like_the_report_bounds(database: Database) -> None:
    """31 Dec 23:30 UTC is already New Year in Vienna: that year's report must be offered."""
    with database.session() as session:
        for number, ts in enumerate([datetime(2023, 5, 1, tzinfo=UTC), datetime(2024, 12, 31, 23, 30, tzinfo=UTC)]):
            session.add(
                LedgerEntry(
                    ts=ts,
                    account="kraken",
                    kind=LedgerKind.BUY,
                    origin=LedgerOrigin.MANUAL,
                    external_id=f"y{number}",
                    sent_asset="EUR",
                    sent_quantity=Decimal(100),
                    received_asset="BTC",
                    received_quantity=Decimal("0.01"),
                    asset_class="crypto",
                )
            )
    with database.session() as session:
        assert report_years(session) == [2025, 2024, 2023]
        assert len(build_report(session, 2025).rows) == 1
