"""Read-only client of the Bitpanda retail API, and its sync into the ledger.

Base ``https://api.bitpanda.com/v1`` (injectable), header ``X-Api-Key``, cursor pagination
(``cursor`` and ``page_size``; the answer's ``meta.next_cursor``). Values are decimal strings.
Requests are spaced by a :class:`~core.retry.RateLimiter`; a timeout, 429 or 5xx is retried with
backoff (``Retry-After`` honoured) through :func:`~core.retry.call_with_retries` before it reaches
the caller as :class:`BitpandaTransientError`. An answer that is not the documented shape raises
:class:`BitpandaApiError` naming the listing and the item.

Ledger mapping (origin ``bitpanda_api``, account ``bitpanda`` by default):
- ``/trades``: one BUY or SELL per trade (``trade:<id>``); ``value_eur`` = amount_fiat × fiat_to_eur_rate.
  A swap (crypto A → crypto B) is two trades with ``is_swap`` true, a sell of A and a buy of B at
  the same second: they become one SWAP entry (``trade:<sell id>+trade:<buy id>``, see
  :func:`core.accounts.common.merge_swap_legs`); a swap trade that cannot be paired stays a
  SELL/BUY and is named in :attr:`SyncResult.unpaired_swap_legs`.
- ``/wallets/transactions``: deposits, withdrawals, transfers and rewards of coins
  (``wallet-tx:<id>``); buys and sells are skipped there, they come from ``/trades``.
- ``/fiatwallets/transactions``: fiat deposits and withdrawals (``fiat-tx:<id>``).
Only ``finished`` transactions are stored.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx
from sqlalchemy.orm import Session

from core.accounts.common import DEFAULT_ACCOUNT, SWAP_LEG, pair_swap_legs, store_entries
from core.audit import AuditAction, append_audit
from core.portfolio.models import LedgerKind, LedgerOrigin
from core.retry import RateLimiter, call_with_retries, retry_after_seconds
from core.security.demo_guard import RealAct, refuse_while_demo
from core.system.shutdown import interruptible_sleep
from core.timeutil import ms_to_utc, parse_utc

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.bitpanda.com/v1"
PAGE_SIZE = 100
MAX_PAGES = 1000
REQUESTS_PER_MINUTE = 60.0
ATTEMPTS = 4
BACKOFF_SECONDS = 2.0
MAX_BACKOFF_SECONDS = 60.0


class BitpandaApiError(RuntimeError):
    """The API refused or answered something that is not its documented shape."""


class BitpandaAuthError(BitpandaApiError):
    """The API key was refused (401/403)."""


class BitpandaTransientError(BitpandaApiError):
    """Worth retrying later: rate limit, server error, timeout."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


@dataclass
class BitpandaClient:
    """Thin httpx client; ``base_url`` is injectable for tests."""

    api_key: str
    base_url: str = DEFAULT_BASE_URL
    timeout_seconds: float = 20.0
    transport: httpx.BaseTransport | None = None
    rate_limiter: RateLimiter = field(default_factory=lambda: RateLimiter.per_minute(REQUESTS_PER_MINUTE))
    attempts: int = ATTEMPTS
    backoff_seconds: float = BACKOFF_SECONDS
    sleep: Callable[[float], None] = interruptible_sleep

    def __repr__(self) -> str:  # never show the key
        return f"BitpandaClient(base_url={self.base_url!r})"

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
        """GET ``path``, retrying transient failures; return the decoded answer or raise."""
        return call_with_retries(
            lambda: self._get_once(path, params),
            is_transient=lambda error: isinstance(error, BitpandaTransientError),
            attempts=self.attempts,
            base_seconds=self.backoff_seconds,
            max_seconds=MAX_BACKOFF_SECONDS,
            retry_after=lambda error: getattr(error, "retry_after", None),
            sleep=self.sleep,
            description=f"Bitpanda GET {path}",
        )

    def _get_once(self, path: str, params: dict[str, Any]) -> dict[str, Any]:
        self.rate_limiter.acquire()
        try:
            response = self._client.get(path, params=params)
        except httpx.TimeoutException as error:
            raise BitpandaTransientError(f"GET {path}: timeout") from error
        except httpx.HTTPError as error:
            raise BitpandaTransientError(f"GET {path}: {type(error).__name__}") from error
        if response.status_code in (401, 403):
            raise BitpandaAuthError(f"GET {path}: the API key was refused (HTTP {response.status_code})")
        if response.status_code == 429 or response.status_code >= 500:
            raise BitpandaTransientError(
                f"GET {path}: HTTP {response.status_code}", retry_after_seconds(response.headers)
            )
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
        seen: set[str] = set()
        for _ in range(MAX_PAGES):
            query = {**params, "page_size": PAGE_SIZE}
            if cursor:
                query["cursor"] = cursor
            payload = self._get(path, query)
            for item in payload["data"]:
                if not isinstance(item, dict) or not isinstance(item.get("attributes"), dict) or "id" not in item:
                    raise BitpandaApiError(f"GET {path}: unexpected answer (an item without id or attributes)")
                yield item
            meta = payload.get("meta") or {}
            if not isinstance(meta, dict):
                raise BitpandaApiError(f"GET {path}: unexpected answer (meta is not an object)")
            cursor = meta.get("next_cursor")
            if not cursor:
                return
            if not isinstance(cursor, str) or cursor in seen:
                raise BitpandaApiError(f"GET {path}: the answer repeats the cursor {cursor!r}")
            seen.add(cursor)
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


def _time(attributes: dict[str, Any]) -> datetime:
    stamp = attributes.get("time") or {}
    if not isinstance(stamp, dict):
        raise BitpandaApiError(f"time is not an object: {stamp!r}")
    try:
        if stamp.get("date_iso8601"):
            return parse_utc(str(stamp["date_iso8601"]))
        if stamp.get("unix"):
            return ms_to_utc(int(stamp["unix"]) * 1000)
    except (ValueError, TypeError, OverflowError) as error:
        raise BitpandaApiError(f"time is not a date and time: {stamp!r}") from error
    raise BitpandaApiError("a transaction without a time")


FINISHED = "finished"  # the only transaction status stored (pending, canceled... are not yet or never final)

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
    """Turn the API listings into ledger rows (pure: no database).

    An item that lacks a documented field raises :class:`BitpandaApiError` naming the item.
    Swap trades come out as legs marked for :func:`~core.accounts.common.pair_swap_legs`.
    """
    with _shape("/wallets"):
        coin_of_wallet = {w["id"]: w["attributes"]["cryptocoin_symbol"] for w in wallets}
    with _shape("/fiatwallets"):
        fiat_of_id = {f["attributes"]["fiat_id"]: f["attributes"]["fiat_symbol"] for f in fiat_wallets}
    rows: list[dict[str, Any]] = []
    for trade in trades:
        with _shape(f"trade {trade.get('id')}"):
            row = _trade_row(trade, coin_of_wallet, fiat_of_id, account)
            if row is not None:
                rows.append(row)
    for transaction in wallet_transactions:
        with _shape(f"wallet transaction {transaction.get('id')}"):
            row = _wallet_transaction_row(transaction, coin_of_wallet, account)
            if row is not None:
                rows.append(row)
    for transaction in fiat_transactions:
        with _shape(f"fiat transaction {transaction.get('id')}"):
            row = _fiat_transaction_row(transaction, fiat_of_id, account)
            if row is not None:
                rows.append(row)
    return rows


@contextmanager
def _shape(what: str) -> Iterator[None]:
    """Turn a missing or mistyped field of an API item into one clear :class:`BitpandaApiError`."""
    try:
        yield
    except BitpandaApiError as error:
        raise BitpandaApiError(f"{what}: {error}") from error
    except (KeyError, TypeError, AttributeError, ValueError) as error:
        detail = f"field {error.args[0]!r} is missing" if isinstance(error, KeyError) else str(error)
        raise BitpandaApiError(f"{what}: unexpected answer ({detail})") from error


def _trade_row(
    trade: dict[str, Any], coin_of_wallet: dict[Any, str], fiat_of_id: dict[Any, str], account: str
) -> dict[str, Any] | None:
    attributes = trade["attributes"]
    if attributes.get("status") != FINISHED:
        return None
    coin = coin_of_wallet.get(attributes.get("wallet_id"))
    fiat = fiat_of_id.get(attributes.get("fiat_id"))
    if coin is None:
        raise BitpandaApiError(f"unknown wallet {attributes.get('wallet_id')}")
    if fiat is None:
        raise BitpandaApiError(f"unknown fiat_id {attributes.get('fiat_id')}")
    amount_fiat = _decimal(attributes["amount_fiat"], "amount_fiat")
    amount_coin = _decimal(attributes["amount_cryptocoin"], "amount_cryptocoin")
    rate = _decimal(attributes.get("fiat_to_eur_rate") or "1", "fiat_to_eur_rate")
    if attributes["type"] not in ("buy", "sell"):
        raise BitpandaApiError(f"type must be buy or sell, got {attributes['type']!r}")
    is_buy = attributes["type"] == "buy"
    row: dict[str, Any] = {
        "account": account,
        "origin": LedgerOrigin.BITPANDA_API,
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
    if attributes.get("is_swap") is True:
        row[SWAP_LEG] = "in" if is_buy else "out"
    return row


def _wallet_transaction_row(
    transaction: dict[str, Any], coin_of_wallet: dict[Any, str], account: str
) -> dict[str, Any] | None:
    attributes = transaction["attributes"]
    if not _is_finished_transfer(attributes):
        return None  # buys/sells come from /trades
    coin = attributes.get("cryptocoin_symbol") or coin_of_wallet.get(attributes.get("wallet_id"))
    if not coin:
        raise BitpandaApiError(f"unknown wallet {attributes.get('wallet_id')}")
    amount_eur = attributes.get("amount_eur")
    value_eur = _decimal(amount_eur, "amount_eur") if amount_eur else None
    return _transfer_row(transaction, account, "wallet-tx", coin, "crypto", value_eur)


def _fiat_transaction_row(
    transaction: dict[str, Any], fiat_of_id: dict[Any, str], account: str
) -> dict[str, Any] | None:
    attributes = transaction["attributes"]
    if not _is_finished_transfer(attributes):
        return None
    fiat = fiat_of_id.get(attributes.get("fiat_id"))
    if fiat is None:
        raise BitpandaApiError(f"unknown fiat_id {attributes.get('fiat_id')}")
    rate = _decimal(attributes.get("to_eur_rate") or "1", "to_eur_rate")
    value_eur = _decimal(attributes["amount"], "amount") * rate
    return _transfer_row(transaction, account, "fiat-tx", fiat, "fiat", value_eur)


def _is_finished_transfer(attributes: dict[str, Any]) -> bool:
    key = (attributes.get("type"), attributes.get("in_or_out"))
    return attributes.get("status") == FINISHED and key in TRANSFER_KINDS


def _transfer_row(
    transaction: dict[str, Any],
    account: str,
    id_prefix: str,
    asset: str,
    asset_class: str,
    value_eur: Decimal | None,
) -> dict[str, Any]:
    """One deposit/withdrawal/transfer of ``asset`` (the fee is charged in the same asset)."""
    attributes = transaction["attributes"]
    amount = _decimal(attributes["amount"], "amount")
    fee = _decimal(attributes.get("fee") or "0", "fee")
    incoming = attributes.get("in_or_out") == "incoming"
    return {
        "account": account,
        "origin": LedgerOrigin.BITPANDA_API,
        "ts": _time(attributes),
        "kind": TRANSFER_KINDS[(attributes.get("type"), attributes.get("in_or_out"))],
        "external_id": f"{id_prefix}:{transaction['id']}",
        "received_asset": asset if incoming else None,
        "received_quantity": amount if incoming else None,
        "sent_asset": None if incoming else asset,
        "sent_quantity": None if incoming else amount,
        "fee_asset": asset if fee else None,
        "fee_quantity": fee if fee else None,
        "value_eur": value_eur,
        "asset_class": asset_class,
        "description": f"Bitpanda {attributes['type']} {asset}",
        "raw": transaction,
    }


@dataclass(frozen=True)
class SyncResult:
    fetched: int
    new_entries: int
    balances: dict[str, Decimal]
    swaps: int = 0  # swaps whose two trades became one SWAP entry (new or already stored)
    unpaired_swap_legs: tuple[str, ...] = ()  # "trade:<id> (<reason>)": kept as SELL/BUY
    replaced_legs: tuple[str, ...] = ()  # swap legs an earlier sync stored separately, now one SWAP
    notes: tuple[str, ...] = ()


def sync_bitpanda(
    session: Session, client: BitpandaClient, *, account: str = DEFAULT_ACCOUNT, actor: str = "sync"
) -> SyncResult:
    """Fetch everything, then write the new ledger entries in the caller's transaction."""
    refuse_while_demo(session, RealAct.IMPORT_ACCOUNT_HISTORY)
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
    balances: dict[str, Decimal] = {}
    for listing, symbol_field in ((wallets, "cryptocoin_symbol"), (fiat_wallets, "fiat_symbol")):
        for wallet in listing:
            with _shape(f"wallet {wallet.get('id')}"):
                symbol = wallet["attributes"][symbol_field]
                balances[symbol] = balances.get(symbol, Decimal(0)) + _decimal(
                    wallet["attributes"]["balance"], "balance"
                )
    pairing = pair_swap_legs(rows)
    stored = store_entries(session, pairing.rows)
    new = stored.new
    if pairing.unpaired:
        unpaired = "; ".join(pairing.unpaired)
        logger.warning("Bitpanda: %d swap legs could not be paired: %s", len(pairing.unpaired), unpaired)
    if new or stored.replaced_legs:
        details: dict[str, Any] = {"source": "bitpanda_api", "fetched": len(rows), "new": new}
        if pairing.swaps:
            details["swaps"] = pairing.swaps
        if pairing.unpaired:
            details["unpaired_swap_legs"] = pairing.unpaired
        if stored.replaced_legs:
            details["replaced_legs"] = list(stored.replaced_legs)
        append_audit(session, actor=actor, action=AuditAction.IMPORT, subject=f"account:{account}", details=details)
    return SyncResult(
        fetched=len(rows),
        new_entries=new,
        balances=balances,
        swaps=pairing.swaps,
        unpaired_swap_legs=tuple(pairing.unpaired),
        replaced_legs=stored.replaced_legs,
        notes=tuple(pairing.notes),
    )
