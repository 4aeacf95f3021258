"""Fixtures of the tax tests: Koinly files."""

from __future__ import annotations

from pathlib import Path

import pytest

KOINLY_HEADER = (
    "Koinly Date,Sent Amount,Sent Currency,Received Amount,Received Currency,Fee Amount,Fee Currency,"
    "Net Worth Amount,Net Worth Currency,Label,Description,TxHash"
)

# A Kraken-like wallet: buys, a swap, staking, a withdrawal to the hardware wallet, a sale.
EXCHANGE_ROWS = [
    "2023-01-10 09:00,20000,EUR,1,BTC,10,EUR,20000,EUR,,buy BTC,",
    "2023-02-01 12:00,0.5,BTC,7,ETH,,,11000,EUR,,swap,",
    "2023-03-01 00:00,,,0.2,ETH,,,300,EUR,staking,staking reward,",
    "2023-04-01 08:00,0.25,BTC,,,0.0001,BTC,,,,to ledger,0xabc",
    "2024-02-01 10:00,3,ETH,6600,EUR,,,6600,EUR,,sell ETH,",
]
LEDGER_ROWS = [
    "2023-04-01 08:30,,,0.25,BTC,,,,,,from exchange,0xabc",
    "2024-05-01 10:00,0.25,BTC,15000,EUR,,,15000,EUR,,sell BTC,",
]


def write_koinly(path: Path, rows: list[str]) -> Path:
    path.write_text("\n".join([KOINLY_HEADER, *rows]) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def exchange_csv(tmp_path: Path) -> Path:
    return write_koinly(tmp_path / "exchange.csv", EXCHANGE_ROWS)


@pytest.fixture
def ledger_csv(tmp_path: Path) -> Path:
    return write_koinly(tmp_path / "ledger.csv", LEDGER_ROWS)
