"""One or more cases for every row of the rules in TAX_RULES_AT.md."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from core.portfolio.models import LedgerKind
from core.tax.assumptions import AltNeuOrder, TaxAssumptions, TransferFeeTreatment
from core.tax.engine import Category, Regime, WarningCode, compute_year
from tests.core.tax.helpers import D, buy, receive, sell, send, swap

DEFAULT = TaxAssumptions()


def codes(result) -> list[str]:
    return [warning.code.value for warning in result.warnings]


# ----- Altvermögen and the transition ---------------------------------------------------------------


def test_altvermoegen_sold_after_a_year_is_tax_free() -> None:
    result = compute_year(
        [buy("2020-05-01", "BTC", "1", "8000"), sell("2023-06-01", "BTC", "1", "25000")], 2023, DEFAULT
    )
    (row,) = result.rows
    assert row.regime is Regime.ALT
    assert result.totals.tax_free == Decimal("17000")
    assert result.totals.net == 0
    assert "tax-free" in row.rule


def test_altvermoegen_sold_within_a_year_is_speculation_income_kz_801() -> None:
    result = compute_year(
        [buy("2020-12-01", "ETH", "2", "1000"), sell("2021-06-01", "ETH", "2", "4000")], 2021, DEFAULT
    )
    assert result.totals.speculation == Decimal("3000")
    assert result.rows[-1].kennzahl == "E1-801"


def test_acquisition_on_28_feb_2021_is_alt_and_on_1_mar_2021_is_neu() -> None:
    movements = [
        buy("2021-02-28 20:00", "BTC", "1", "40000"),  # 21:00 Vienna: still 28 Feb
        buy("2021-03-01 00:30", "ETH", "1", "1200"),  # 01:30 Vienna on 1 Mar
        sell("2023-03-01", "BTC", "1", "22000"),
        sell("2023-03-01", "ETH", "1", "1500"),
    ]
    result = compute_year(movements, 2023, DEFAULT)
    regimes = {row.coin: row.regime for row in result.rows}
    assert regimes == {"BTC": Regime.ALT, "ETH": Regime.NEU}
    assert result.totals.tax_free == Decimal("-18000")
    assert result.totals.realised_gains == Decimal("300")


def test_window_jan_feb_2022_follows_the_old_law_and_swaps_are_realisations() -> None:
    movements = [
        buy("2021-06-01", "BTC", "1", "30000"),
        swap("2022-02-10", "BTC", "1", "ETH", "15", value="38000"),
        sell("2022-06-01", "ETH", "15", "20000"),
    ]
    result = compute_year(movements, 2022, DEFAULT)
    assert result.totals.speculation == Decimal("8000")  # the swap in the window: § 31, held < 1 year
    # ETH received at market value 38000 -> sold for 20000 under the new law
    assert result.totals.realised_losses == Decimal("18000")


def test_window_option_for_27_5_percent() -> None:
    movements = [buy("2021-06-01", "BTC", "1", "30000"), sell("2022-02-10", "BTC", "1", "38000")]
    old_law = compute_year(movements, 2022, DEFAULT)
    assert old_law.totals.speculation == Decimal("8000")
    assert old_law.totals.realised_gains == 0
    opted = compute_year(movements, 2022, TaxAssumptions(old_law_window_option=True))
    assert opted.totals.realised_gains == Decimal("8000")
    assert opted.totals.speculation == 0


def test_alt_and_neu_in_one_wallet_earliest_first_then_neu_first() -> None:
    movements = [
        buy("2020-01-10", "BTC", "1", "7000"),
        buy("2023-01-10", "BTC", "1", "18000"),
        sell("2024-02-01", "BTC", "1", "40000"),
    ]
    earliest = compute_year(movements, 2024, DEFAULT)
    (row,) = earliest.rows
    assert row.regime is Regime.ALT
    assert earliest.totals.tax_free == Decimal("33000")
    assert earliest.totals.net == 0
    neu_first = compute_year(movements, 2024, TaxAssumptions(alt_neu_order=AltNeuOrder.NEU_FIRST))
    assert neu_first.totals.realised_gains == Decimal("22000")
    assert neu_first.holdings[("w", "BTC")][0] == Decimal("1")  # the Alt unit stays


def test_alt_units_are_not_in_the_average() -> None:
    movements = [
        buy("2020-01-10", "BTC", "1", "7000"),
        buy("2023-01-10", "BTC", "1", "18000"),
        buy("2023-02-10", "BTC", "1", "22000"),
    ]
    result = compute_year(movements, 2023, DEFAULT)
    assert result.rows[-1].average_after_eur == Decimal("20000")
    assert result.holdings[("w", "BTC")] == (D(1), D(2), D(40000))


def test_sale_mixing_alt_and_neu_splits_the_rows() -> None:
    movements = [
        buy("2020-01-10", "BTC", "1", "7000"),
        buy("2023-01-10", "BTC", "1", "18000"),
        sell("2024-02-01", "BTC", "2", "80000"),
    ]
    result = compute_year(movements, 2024, DEFAULT)
    assert {row.regime for row in result.rows} == {Regime.ALT, Regime.NEU}
    assert result.totals.tax_free == Decimal("33000")
    assert result.totals.realised_gains == Decimal("22000")


def test_alt_swapped_into_another_coin_becomes_neu_at_market_value() -> None:
    movements = [
        buy("2020-03-01", "BTC", "1", "5000"),
        swap("2023-04-01", "BTC", "1", "ETH", "10", value="26000"),
        sell("2024-04-01", "ETH", "10", "30000"),
    ]
    result_2023 = compute_year(movements, 2023, DEFAULT)
    assert result_2023.totals.tax_free == Decimal("21000")
    result = compute_year(movements, 2024, DEFAULT)
    assert result.totals.realised_gains == Decimal("4000")
    assert result.rows[0].regime is Regime.NEU


def test_fifo_applies_from_march_to_december_2022() -> None:
    movements = [
        buy("2022-03-05", "BTC", "1", "35000"),
        buy("2022-04-05", "BTC", "1", "40000"),
        sell("2022-11-01", "BTC", "1", "20000"),
    ]
    fifo = compute_year(movements, 2022, DEFAULT)
    assert fifo.rows[-1].cost_eur == Decimal("35000")
    average = compute_year(movements, 2022, TaxAssumptions(fifo_2022=False))
    assert average.rows[-1].cost_eur == Decimal("37500")


# ----- pools, transfers, fees -----------------------------------------------------------------------


def test_pools_are_per_wallet() -> None:
    movements = [
        buy("2023-01-10", "BTC", "1", "10000", wallet="a"),
        buy("2023-01-11", "BTC", "1", "30000", wallet="b"),
        sell("2023-06-01", "BTC", "1", "25000", wallet="a"),
    ]
    result = compute_year(movements, 2023, DEFAULT)
    assert result.rows[-1].cost_eur == Decimal("10000")  # not the global average of 20000
    assert result.totals.realised_gains == Decimal("15000")


def test_transfer_between_own_wallets_keeps_cost_and_is_matched() -> None:
    movements = [
        buy("2023-01-10", "BTC", "1", "10000", wallet="exchange"),
        send("2023-02-01 10:00", LedgerKind.WITHDRAWAL, "BTC", "1", wallet="exchange"),
        receive("2023-02-01 10:20", LedgerKind.DEPOSIT, "BTC", "1", wallet="ledger", value="21000"),
        sell("2023-06-01", "BTC", "1", "25000", wallet="ledger"),
    ]
    result = compute_year(movements, 2023, DEFAULT)
    assert result.totals.realised_gains == Decimal("15000")
    assert WarningCode.UNMATCHED_TRANSFER not in [w.code for w in result.warnings]
    transfers = [row for row in result.rows if row.category is Category.TRANSFER]
    assert [row.wallet for row in transfers] == ["exchange", "ledger"]


def test_transfer_fee_treatments() -> None:
    movements = [
        buy("2023-01-10", "ETH", "10", "10000", wallet="a"),
        send("2023-02-01 10:00", LedgerKind.WITHDRAWAL, "ETH", "10", wallet="a"),
        receive("2023-02-01 10:05", LedgerKind.DEPOSIT, "ETH", "9.9", wallet="b"),
    ]
    carried = compute_year(movements, 2023, DEFAULT)
    assert carried.holdings[("a", "ETH")] == (D(0), D(0), D(0))
    assert carried.holdings[("b", "ETH")] == (D(0), D("9.9"), D(10000))
    dropped = compute_year(movements, 2023, TaxAssumptions(transfer_fee_treatment=TransferFeeTreatment.DROP_COST))
    assert dropped.holdings[("b", "ETH")] == (D(0), D("9.9"), D(9900))
    with_value = [*movements[:2], replace(movements[2], value_eur=D("19800"))]
    disposal = compute_year(with_value, 2023, TaxAssumptions(transfer_fee_treatment=TransferFeeTreatment.DISPOSAL))
    assert disposal.holdings[("b", "ETH")][2] == D(9900)
    assert disposal.totals.realised_gains == Decimal("100")  # 0.1 ETH worth 200, cost 100


def test_unmatched_withdrawal_and_deposit_are_warnings() -> None:
    movements = [
        buy("2023-01-10", "BTC", "1", "10000", wallet="a"),
        send("2023-02-01", LedgerKind.WITHDRAWAL, "BTC", "1", wallet="a"),
        receive("2023-05-01", LedgerKind.DEPOSIT, "BTC", "1", wallet="b", value="25000"),
    ]
    result = compute_year(movements, 2023, DEFAULT)
    assert codes(result).count("unmatched_transfer") == 2
    assert all(w.row_ids for w in result.warnings)
    assert result.holdings[("b", "BTC")][2] == D(25000)  # acquisition at market value (assumption)


def test_acquisition_fees_are_part_of_the_cost() -> None:
    movements = [buy("2023-01-10", "BTC", "1", "10000", fee_eur="15"), sell("2023-03-01", "BTC", "1", "11000")]
    result = compute_year(movements, 2023, DEFAULT)
    assert result.rows[0].cost_eur == Decimal("10015")
    assert result.totals.realised_gains == Decimal("985")


def test_sale_fees_are_not_deducted_unless_configured() -> None:
    sale = sell("2023-03-01", "BTC", "1", "11000")
    sale = replace(sale, fee_asset="EUR", fee_quantity=D(20))
    movements = [buy("2023-01-10", "BTC", "1", "10000"), sale]
    assert compute_year(movements, 2023, DEFAULT).totals.realised_gains == Decimal("1000")
    configured = TaxAssumptions(sale_fees_reduce_proceeds=True)
    assert compute_year(movements, 2023, configured).totals.realised_gains == Decimal("980")


def test_swap_fee_in_the_sent_coin_is_ignored_and_cost_carries() -> None:
    swap_with_fee = replace(swap("2023-02-01", "BTC", "0.99", "ETH", "10"), fee_asset="BTC", fee_quantity=D("0.01"))
    movements = [buy("2023-01-10", "BTC", "1", "20000"), swap_with_fee]
    result = compute_year(movements, 2023, DEFAULT)
    assert result.totals.net == 0
    assert result.holdings[("w", "ETH")] == (D(0), D(10), D(20000))
    assert result.holdings[("w", "BTC")][1] == 0


# ----- income, rewards, no-realisation events ---------------------------------------------------------


def test_lending_interest_and_mining_are_current_income_and_cost() -> None:
    movements = [
        receive("2023-03-01", LedgerKind.INCOME, "USDC", "100", value="92"),
        sell("2023-06-01", "USDC", "100", "95"),
    ]
    result = compute_year(movements, 2023, DEFAULT)
    assert result.totals.current_income == Decimal("92")
    assert result.totals.realised_gains == Decimal("3")
    assert result.rows[0].kennzahl == "172"


def test_airdrop_and_fork_have_cost_zero() -> None:
    movements = [
        receive("2023-03-01", LedgerKind.AIRDROP, "ARB", "100", value="120"),
        receive("2023-03-02", LedgerKind.FORK, "BCH", "1", value="150"),
        sell("2023-06-01", "ARB", "100", "110"),
        sell("2023-06-01", "BCH", "1", "130"),
    ]
    result = compute_year(movements, 2023, DEFAULT)
    assert result.totals.realised_gains == Decimal("240")
    assert result.totals.current_income == 0


def test_lost_or_stolen_is_no_realisation_and_no_loss() -> None:
    movements = [buy("2023-01-10", "BTC", "1", "20000"), send("2023-05-01", LedgerKind.LOSS, "BTC", "1")]
    result = compute_year(movements, 2023, DEFAULT)
    assert result.totals.net == 0
    assert result.rows[-1].category is Category.NO_REALISATION


def test_gift_given_is_not_a_sale() -> None:
    movements = [buy("2023-01-10", "BTC", "1", "20000"), send("2023-05-01", LedgerKind.GIFT_OUT, "BTC", "0.5")]
    result = compute_year(movements, 2023, DEFAULT)
    assert result.totals.net == 0
    assert result.holdings[("w", "BTC")] == (D(0), D("0.5"), D(10000))


def test_spending_crypto_is_a_realisation_at_market_value() -> None:
    movements = [
        buy("2023-01-10", "BTC", "1", "20000"),
        send("2023-05-01", LedgerKind.SPEND, "BTC", "0.1", value="2600"),
    ]
    result = compute_year(movements, 2023, DEFAULT)
    assert result.totals.realised_gains == Decimal("600")


# ----- losses, KESt, warnings ------------------------------------------------------------------------


def test_losses_offset_gains_within_the_year_only() -> None:
    movements = [
        buy("2023-01-10", "BTC", "1", "20000"),
        sell("2023-06-01", "BTC", "1", "15000"),  # loss 5000 in 2023
        buy("2024-01-10", "ETH", "1", "2000"),
        sell("2024-06-01", "ETH", "1", "3000"),  # gain 1000 in 2024
        buy("2024-02-10", "SOL", "10", "1000"),
        sell("2024-07-01", "SOL", "10", "700"),  # loss 300 in 2024
    ]
    year_2023 = compute_year(movements, 2023, DEFAULT)
    assert year_2023.totals.net == Decimal("-5000")
    assert year_2023.totals.tax == 0
    year_2024 = compute_year(movements, 2024, DEFAULT)
    assert year_2024.totals.net == Decimal("700")  # no carry-forward of 2023's loss
    assert year_2024.totals.tax == Decimal("192.5")


def test_kest_withheld_by_domestic_provider_is_kept_apart_and_credited() -> None:
    movements = [
        buy("2024-01-10", "BTC", "1", "20000", wallet="bitpanda"),
        sell("2024-06-01", "BTC", "1", "24000", wallet="bitpanda", kest_withheld_eur=D(1100)),
        buy("2024-01-10", "ETH", "1", "3000", wallet="kraken"),
        sell("2024-06-01", "ETH", "1", "2000", wallet="kraken"),
    ]
    result = compute_year(movements, 2024, DEFAULT, domestic_wallets=["bitpanda"])
    totals = result.totals
    assert (totals.gains_withholding, totals.gains_other) == (D(4000), D(0))
    assert (totals.losses_withholding, totals.losses_other) == (D(0), D(1000))
    assert totals.kest_withheld == D(1100)
    assert totals.tax == Decimal("825")  # 27.5 % of 3000: the foreign loss is offset
    bitpanda = result.wallets["bitpanda"]
    assert bitpanda.kest_expected == Decimal("1100")
    assert {row.kennzahl for row in result.rows if row.category is Category.REALISATION} == {"173", "176"}


def test_domestic_wallet_before_withholding_start_counts_as_no_kest() -> None:
    movements = [
        buy("2023-01-10", "BTC", "1", "20000", wallet="bitpanda"),
        sell("2023-06-01", "BTC", "1", "24000", wallet="bitpanda"),
    ]
    result = compute_year(movements, 2023, DEFAULT, domestic_wallets=["bitpanda"])
    assert result.totals.gains_other == D(4000)


def test_entered_kest_is_added_to_kz_899() -> None:
    result = compute_year([], 2024, DEFAULT, domestic_wallets=["bitpanda"], entered_kest=[("bitpanda", D("55.10"))])
    assert result.totals.kest_withheld == D("55.10")


def test_flat_cost_case_is_listed() -> None:
    movements = [
        buy("2023-06-10", "BTC", "1", "30000", wallet="kraken"),
        send("2023-07-01 10:00", LedgerKind.WITHDRAWAL, "BTC", "1", wallet="kraken"),
        receive("2023-07-01 10:10", LedgerKind.DEPOSIT, "BTC", "1", wallet="bitpanda"),
        # the provider did not know the cost: KESt on 50 % of 40000 = 5500
        sell("2024-03-01", "BTC", "1", "40000", wallet="bitpanda", kest_withheld_eur=D(5500)),
    ]
    result = compute_year(movements, 2024, DEFAULT, domestic_wallets=["bitpanda"])
    flat = [w for w in result.warnings if w.code is WarningCode.FLAT_COST]
    assert len(flat) == 1
    assert flat[0].row_ids
    assert result.totals.realised_gains == D(10000)


def test_sale_without_acquisition_is_a_negative_balance_warning() -> None:
    result = compute_year([sell("2023-06-01", "BTC", "1", "24000")], 2023, DEFAULT)
    (warning,) = result.warnings
    assert warning.code is WarningCode.NEGATIVE_BALANCE
    assert warning.row_ids == [result.rows[0].row_id]
    assert result.totals.realised_gains == D(24000)


def test_missing_value_is_a_warning_not_a_silent_zero() -> None:
    result = compute_year([receive("2023-03-01", LedgerKind.INCOME, "XYZ", "10")], 2023, DEFAULT)
    assert codes(result) == ["value_missing"]


def test_non_crypto_asset_classes_are_listed_and_excluded() -> None:
    movements = [
        buy("2023-01-10", "AAPL", "10", "1500", asset_class="stock"),
        sell("2023-06-01", "AAPL", "10", "1800", asset_class="stock"),
        buy("2023-01-10", "XAU", "1", "1800", asset_class="metal"),
    ]
    result = compute_year(movements, 2023, DEFAULT)
    assert result.totals.net == 0
    assert {row.regime for row in result.rows} == {Regime.EXCLUDED}
    assert codes(result) == ["excluded_asset_class"] * 3
    messages = " ".join(warning.message for warning in result.warnings)
    assert "stock AAPL" in messages and "metal XAU" in messages


def test_problems_in_earlier_years_are_summarised() -> None:
    movements = [sell("2023-06-01", "BTC", "1", "24000"), buy("2024-01-01 12:00", "ETH", "1", "2000")]
    result = compute_year(movements, 2024, DEFAULT)
    assert codes(result) == ["earlier_years"]
