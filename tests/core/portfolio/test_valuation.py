from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from core.db.engine import Database
from core.portfolio.models import PortfolioSnapshot
from core.portfolio.valuation import equity_curve, portfolio_accounts, value_portfolio
from tests.core.portfolio.handmade import NOW, seed_handmade

D = Decimal


@pytest.fixture
def handmade(database: Database) -> Database:
    seed_handmade(database)
    return database


def q(value: Decimal) -> Decimal:
    return value.quantize(D("0.000000001"))


def test_accounts_come_from_the_ledger_and_the_positions(handmade: Database) -> None:
    assert handmade.run(portfolio_accounts) == ["bitpanda", "external", "paper"]


def test_paper_account_is_valued_at_average_cost_with_fees(handmade: Database) -> None:
    paper = handmade.run(lambda s: value_portfolio(s, ["paper"])).account("paper")
    assert paper is not None
    assert paper.cash_eur == D("2977.00")
    assert paper.realised_pnl_eur == D("1485.00")
    assert paper.fees_eur == D("23.00")
    assert paper.net_deposits_eur == D("10000.00")
    btc, eth = paper.holdings  # largest market value first
    assert (btc.symbol, q(btc.quantity), btc.cost_basis_eur) == ("BTC/EUR", q(D("0.25")), D("5508.00"))
    assert btc.price_eur == D("30000")
    assert btc.market_value_eur == D("7500.00")
    assert btc.unrealised_pnl_eur == D("1992.00")
    assert btc.realised_pnl_eur == D("1485.00")
    assert q(btc.average_cost_eur) == q(D("22032"))
    assert (eth.symbol, eth.market_value_eur, eth.unrealised_pnl_eur) == ("ETH/EUR", D("4000.00"), D("1000.00"))
    assert eth.price_time == NOW - timedelta(hours=1)  # the newest candle of any source wins
    assert paper.market_value_eur == D("11500.00")
    assert paper.unrealised_pnl_eur == D("2992.00")
    assert paper.equity_eur == D("14477.00")


def test_transfers_rewards_and_fees_in_an_asset(handmade: Database) -> None:
    account = handmade.run(lambda s: value_portfolio(s, ["bitpanda"])).account("bitpanda")
    assert account is not None
    assert account.cash_eur == D("998.00")
    (eth,) = account.holdings
    assert q(eth.quantity) == q(D("0.875"))
    assert eth.cost_basis_eur == D("1218.75")
    assert eth.market_value_eur == D("1750.00")
    assert eth.unrealised_pnl_eur == D("531.25")
    assert account.realised_pnl_eur == D("-95.75")
    assert account.equity_eur == D("2748.00")


def test_account_with_only_positions_is_valued_from_them(handmade: Database) -> None:
    account = handmade.run(lambda s: value_portfolio(s, ["external"])).account("external")
    assert account is not None
    (btc,) = account.holdings
    assert (btc.market_value_eur, btc.unrealised_pnl_eur, account.realised_pnl_eur) == (
        D("15000.00"),
        D("5000.00"),
        D("100.00"),
    )
    assert account.cash_eur == D("0.00")


def test_totals_and_allocation_over_all_accounts(handmade: Database) -> None:
    valuation = handmade.run(value_portfolio)
    assert valuation.cash_eur == D("3975.00")
    assert valuation.market_value_eur == D("28250.00")
    assert valuation.equity_eur == D("32225.00")
    assert valuation.realised_pnl_eur == D("1489.25")
    assert valuation.unrealised_pnl_eur == D("8523.25")
    allocation = {item.label: item.value_eur for item in valuation.allocation}
    assert allocation == {"BTC/EUR": D("22500.00"), "ETH/EUR": D("5750.00"), "Cash (EUR)": D("3975.00")}
    assert sum(item.fraction for item in valuation.allocation) == pytest.approx(Decimal(1))
    assert valuation.valued_at == NOW - timedelta(hours=1)


def test_asset_without_a_price_is_reported_not_guessed(database: Database) -> None:
    from core.portfolio.models import LedgerKind
    from tests.core.portfolio.handmade import entry

    with database.session() as session:
        session.add(
            entry(
                "paper",
                NOW,
                LedgerKind.DEPOSIT,
                "x1",
                received_asset="XYZ",
                received_quantity=D("3"),
                value_eur=D("30"),
            )
        )
    account = database.run(value_portfolio).account("paper")
    assert account is not None
    assert account.unpriced_assets == ["XYZ"]
    (holding,) = account.holdings
    assert holding.market_value_eur is None
    assert account.equity_eur == D("0.00")


def test_equity_curve_sums_accounts_and_carries_the_last_snapshot(database: Database) -> None:
    t1, t2 = NOW - timedelta(hours=2), NOW - timedelta(hours=1)
    with database.session() as session:
        for account, ts, equity in (("paper", t1, "100"), ("bank", t1, "50"), ("paper", t2, "110")):
            session.add(
                PortfolioSnapshot(
                    account=account,
                    ts=ts,
                    equity_eur=D(equity),
                    cash_eur=D("10"),
                    positions_value_eur=D(equity) - 10,
                    is_demo=False,
                )
            )
    points = database.run(equity_curve)
    assert [(point.ts, point.equity_eur, point.cash_eur) for point in points] == [
        (t1, D("150"), D("20")),
        (t2, D("160"), D("20")),
    ]
    only_paper = database.run(lambda s: equity_curve(s, ["paper"], start=t2))
    assert [(point.ts, point.equity_eur) for point in only_paper] == [(t2, D("110"))]


def test_equity_curve_is_thinned_for_display_keeping_the_newest_point(database: Database) -> None:
    with database.session() as session:
        for hour in range(100):
            session.add(
                PortfolioSnapshot(
                    account="paper",
                    ts=NOW + timedelta(hours=hour),
                    equity_eur=D(hour),
                    cash_eur=D(0),
                    positions_value_eur=D(hour),
                    is_demo=False,
                )
            )
    points = database.run(lambda s: equity_curve(s, max_points=10))
    assert len(points) == 10
    assert points[-1].ts == NOW + timedelta(hours=99)
    assert [point.equity_eur for point in points][:2] == [D(9), D(19)]


def test_a_new_ledger_entry_is_seen_at_once_despite_the_replay_cache(handmade: Database) -> None:
    from core.portfolio.models import LedgerKind
    from tests.core.portfolio.handmade import entry

    assert handmade.run(lambda s: value_portfolio(s, ["paper"])).cash_eur == D("2977.00")
    with handmade.session() as session:
        session.add(entry("paper", NOW, LedgerKind.DEPOSIT, "p9", received_asset="EUR", received_quantity=D("23")))
    assert handmade.run(lambda s: value_portfolio(s, ["paper"])).cash_eur == D("3000.00")
