"""Read-only client of the Bitpanda retail API, and its sync into the ledger.

Base ``https://api.bitpanda.com/v1`` (injectable), header ``X-Api-Key``, cursor pagination
(``cursor`` and ``page_size``; the answer's ``meta.next_cursor``). Values are decimal strings.

Ledger mapping (origin ``bitpanda_api``, account ``bitpanda`` by default):
- ``/trades``: one BUY or SELL per trade (``trade:<id>``); ``value_eur`` = amount_fiat × fiat_to_eur_rate.
- ``/wallets/transactions``: deposits, withdrawals, transfers and rewards of coins
  (``wallet-tx:<id>``); buys and sells are skipped there, they come from ``/trades``.
- ``/fiatwallets/transactions``: fiat deposits and withdrawals (``fiat-tx:<id>``).
Only ``finished`` transactions are stored.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx
from sqlalchemy.orm import Session

from core.accounts.common import DEFAULT_ACCOUNT, store_entries
from core.audit import AuditAction, append_audit
from core.portfolio.models import LedgerKind, LedgerOrigin
from core.timeutil import ms_to_utc, parse_utc

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.bitpanda.com/v1"
PAGE_SIZE = 100
MAX_PAGES = 1000


class BitpandaApiError(RuntimeError):
    """The API refused or answered something that is not its documented shape."""


class BitpandaAuthError(BitpandaApiError):
    """The API key was refused (401/403)."""


class BitpandaTransientError(BitpandaApiError):
    """Worth retrying later: rate limit, server error, timeout."""


@dataclass
class BitpandaClient:
    """Thin httpx client; ``base_url`` is injectable for tests."""

    api_key: str
    base_url: str = DEFAULT_BASE_URL
    timeout_seconds: float = 20.0
    transport: httpx.BaseTransport | None = None

    def __post_init__(self) -> None:
        self._client = httpx.Client(
            base_url=self.base_url.rstrip("/"),
            headers={"X-Api-Key": self.api_key, "Accept": "application/json"},
            timeout=self.timeout_seconds,
            transport=self.transport,
        )

    def close(self) -> None:
        self._client.close()

    def _get(self, path: str, params: dict[str, Any]) -> dict[str, Any]:
        try:
            response = self._client.get(path, params=params)
        except httpx.TimeoutException as error:
            raise BitpandaTransientError(f"GET {path}: timeout") from error
        except httpx.HTTPError as error:
            raise BitpandaTransientError(f"GET {path}: {type(error).__name__}") from error
        if response.status_code in (401, 403):
            raise BitpandaAuthError(f"GET {path}: the API key was refused (HTTP {response.status_code})")
        if response.status_code == 429 or response.status_code >= 500:
            raise BitpandaTransientError(f"GET {path}: HTTP {response.status_code}")
        if response.status_code != 200:
            raise BitpandaApiError(f"GET {path}: HTTP {response.status_code}: {response.text[:200]}")
        try:
            payload = response.json()
        except ValueError as error:
            raise BitpandaApiError(f"GET {path}: the answer is not JSON") from error
        if not isinstance(payload, dict) or not isinstance(payload.get("data"), list):
            raise BitpandaApiError(f"GET {path}: unexpected answer (no data list)")
        return payload

    def paginate(self, path: str, **params: Any) -> Iterator[dict[str, Any]]:
        """Yield every item of a paginated listing, following ``meta.next_cursor``."""
        cursor: str | None = None
        for _ in range(MAX_PAGES):
            query = {**params, "page_size": PAGE_SIZE}
            if cursor:
                query["cursor"] = cursor
            payload = self._get(path, query)
            yield from payload["data"]
            meta = payload.get("meta") or {}
            cursor = meta.get("next_cursor")
            if not cursor:
                return
        raise BitpandaApiError(f"GET {path}: more than {MAX_PAGES} pages")

    def wallets(self) -> list[dict[str, Any]]:
        return list(self.paginate("/wallets"))

    def fiat_wallets(self) -> list[dict[str, Any]]:
        return list(self.paginate("/fiatwallets"))

    def trades(self) -> list[dict[str, Any]]:
        return list(self.paginate("/trades"))

    def wallet_transactions(self) -> list[dict[str, Any]]:
        return list(self.paginate("/wallets/transactions"))

    def fiat_transactions(self) -> list[dict[str, Any]]:
        return list(self.paginate("/fiatwallets/transactions"))


def _decimal(value: Any, what: str) -> Decimal:
    try:
        number = Decimal(str(value))
    except (InvalidOperation, TypeError) as error:
        raise BitpandaApiError(f"{what} is not a number: {value!r}") from error
    if not number.is_finite():
        raise BitpandaApiError(f"{what} is not finite: {value!r}")
    return number


def _time(attributes: dict[str, Any]) -> Any:
    stamp = attributes.get("time") or {}
    if stamp.get("date_iso8601"):
        return parse_utc(stamp["date_iso8601"])
    if stamp.get("unix"):
        return ms_to_utc(int(stamp["unix"]) * 1000)
    raise BitpandaApiError("a transaction without a time")


TRANSFER_KINDS = {
    ("deposit", "incoming"): LedgerKind.DEPOSIT,
    ("withdrawal", "outgoing"): LedgerKind.WITHDRAWAL,
    ("transfer", "incoming"): LedgerKind.TRANSFER_IN,
    ("transfer", "outgoing"): LedgerKind.TRANSFER_OUT,
    ("reward", "incoming"): LedgerKind.REWARD,
    ("staking", "incoming"): LedgerKind.REWARD,
    ("airdrop", "incoming"): LedgerKind.AIRDROP,
}


def ledger_rows_from_api(
    wallets: list[dict[str, Any]],
    fiat_wallets: list[dict[str, Any]],
    trades: list[dict[str, Any]],
    wallet_transactions: list[dict[str, Any]],
    fiat_transactions: list[dict[str, Any]],
    *,
    account: str = DEFAULT_ACCOUNT,
) -> list[dict[str, Any]]:
    """Turn the API listings into ledger rows (pure: no database)."""
    coin_of_wallet = {w["id"]: w["attributes"]["cryptocoin_symbol"] for w in wallets}
    fiat_of_id = {f["attributes"]["fiat_id"]: f["attributes"]["fiat_symbol"] for f in fiat_wallets}
    rows: list[dict[str, Any]] = []
    base = {"account": account, "origin": LedgerOrigin.BITPANDA_API}
    for trade in trades:
        attributes = trade["attributes"]
        if attributes.get("status") != "finished":
            continue
        coin = coin_of_wallet.get(attributes.get("wallet_id"))
        fiat = fiat_of_id.get(attributes.get("fiat_id"), "EUR")
        if coin is None:
            raise BitpandaApiError(f"trade {trade['id']}: unknown wallet {attributes.get('wallet_id')}")
        amount_fiat = _decimal(attributes["amount_fiat"], "amount_fiat")
        amount_coin = _decimal(attributes["amount_cryptocoin"], "amount_cryptocoin")
        rate = _decimal(attributes.get("fiat_to_eur_rate") or "1", "fiat_to_eur_rate")
        is_buy = attributes["type"] == "buy"
        rows.append(
            {
                **base,
                "ts": _time(attributes),
                "kind": LedgerKind.BUY if is_buy else LedgerKind.SELL,
                "external_id": f"trade:{trade['id']}",
                "sent_asset": fiat if is_buy else coin,
                "sent_quantity": amount_fiat if is_buy else amount_coin,
                "received_asset": coin if is_buy else fiat,
                "received_quantity": amount_coin if is_buy else amount_fiat,
                "value_eur": amount_fiat * rate,
                "asset_class": "crypto",
                "description": f"Bitpanda {attributes['type']} {coin}",
                "raw": trade,
            }
        )
    for transaction in wallet_transactions:
        attributes = transaction["attributes"]
        key = (attributes.get("type"), attributes.get("in_or_out"))
        if attributes.get("status") != "finished" or key not in TRANSFER_KINDS:
            continue  # buys/sells come from /trades
        coin = attributes.get("cryptocoin_symbol") or coin_of_wallet.get(attributes.get("wallet_id"))
        amount = _decimal(attributes["amount"], "amount")
        fee = _decimal(attributes.get("fee") or "0", "fee")
        kind = TRANSFER_KINDS[key]
        incoming = attributes.get("in_or_out") == "incoming"
        rows.append(
            {
                **base,
                "ts": _time(attributes),
                "kind": kind,
                "external_id": f"wallet-tx:{transaction['id']}",
                "received_asset": coin if incoming else None,
                "received_quantity": amount if incoming else None,
                "sent_asset": None if incoming else coin,
                "sent_quantity": None if incoming else amount,
                "fee_asset": coin if fee else None,
                "fee_quantity": fee if fee else None,
                "value_eur": _decimal(attributes["amount_eur"], "amount_eur") if attributes.get("amount_eur") else None,
                "asset_class": "crypto",
                "description": f"Bitpanda {attributes['type']} {coin}",
                "raw": transaction,
            }
        )
    for transaction in fiat_transactions:
        attributes = transaction["attributes"]
        key = (attributes.get("type"), attributes.get("in_or_out"))
        if attributes.get("status") != "finished" or key not in TRANSFER_KINDS:
            continue
        fiat = fiat_of_id.get(attributes.get("fiat_id"), "EUR")
        amount = _decimal(attributes["amount"], "amount")
        fee = _decimal(attributes.get("fee") or "0", "fee")
        rate = _decimal(attributes.get("to_eur_rate") or "1", "to_eur_rate")
        incoming = attributes.get("in_or_out") == "incoming"
        rows.append(
            {
                **base,
                "ts": _time(attributes),
                "kind": TRANSFER_KINDS[key],
                "external_id": f"fiat-tx:{transaction['id']}",
                "received_asset": fiat if incoming else None,
                "received_quantity": amount if incoming else None,
                "sent_asset": None if incoming else fiat,
                "sent_quantity": None if incoming else amount,
                "fee_asset": fiat if fee else None,
                "fee_quantity": fee if fee else None,
                "value_eur": amount * rate,
                "asset_class": "fiat",
                "description": f"Bitpanda {attributes['type']} {fiat}",
                "raw": transaction,
            }
        )
    return rows


@dataclass(frozen=True)
class SyncResult:
    fetched: int
    new_entries: int
    balances: dict[str, Decimal]


def sync_bitpanda(
    session: Session, client: BitpandaClient, *, account: str = DEFAULT_ACCOUNT, actor: str = "sync"
) -> SyncResult:
    """Fetch everything, then write the new ledger entries in the caller's transaction."""
    wallets = client.wallets()
    fiat_wallets = client.fiat_wallets()
    rows = ledger_rows_from_api(
        wallets,
        fiat_wallets,
        client.trades(),
        client.wallet_transactions(),
        client.fiat_transactions(),
        account=account,
    )
    new = store_entries(session, rows)
    balances = {w["attributes"]["cryptocoin_symbol"]: _decimal(w["attributes"]["balance"], "balance") for w in wallets}
    for wallet in fiat_wallets:
        symbol = wallet["attributes"]["fiat_symbol"]
        balances[symbol] = balances.get(symbol, Decimal(0)) + _decimal(wallet["attributes"]["balance"], "balance")
    if new:
        append_audit(
            session,
            actor=actor,
            action=AuditAction.IMPORT,
            subject=f"account:{account}",
            details={"source": "bitpanda_api", "fetched": len(rows), "new": new},
        )
    return SyncResult(fetched=len(rows), new_entries=new, balances=balances)
