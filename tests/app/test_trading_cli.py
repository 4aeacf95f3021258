"""``konsens order list`` and ``konsens paper deposit`` print figures in the number style (core.numbers)."""

from __future__ import annotations

from decimal import Decimal

from typer.testing import CliRunner

from app.cli import cli
from core.db.engine import Database
from core.market.models import AssetClass, Instrument
from tests.orders import place_test_order


def test_order_list_shows_quantities_at_the_lot_and_prices_at_the_tick(configured_sqlite: Database) -> None:
    with configured_sqlite.session() as session:
        session.add(
            Instrument(
                symbol="BTC/EUR",
                base="BTC",
                quote="EUR",
                asset_class=AssetClass.CRYPTO,
                lot_size=Decimal("0.0001"),
                tick_size=Decimal("0.01"),
                rules_source="test",
            )
        )
        session.flush()
        place_test_order(session, "BTC/EUR", quantity=Decimal("0.123456"), limit_price=Decimal("103024.91"))
    runner = CliRunner()
    deposit = runner.invoke(cli, ["paper", "deposit", "1234.5"])
    assert deposit.exit_code == 0, deposit.output
    assert "deposited € 1,234.50 into the paper account" in deposit.output
    listed = runner.invoke(cli, ["order", "list"])
    assert listed.exit_code == 0, listed.output
    assert " 0.1234 BTC/EUR limit @ 103,024.91  new" in listed.output  # rounded down to the lot of 0.0001
