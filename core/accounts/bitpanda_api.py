"""Read-only client of the Bitpanda retail API, and its sync into the ledger.

Base ``https://api.bitpanda.com/v1`` (injectable), header ``X-Api-Key``, cursor pagination
(``cursor`` and ``page_size``; the answer's ``meta.next_cursor``). Values are decimal strings.
Requests are spaced by a :class:`~core.retry.RateLimiter`; a timeout, 429 or 5xx is retried with
backoff (``Retry-After`` honoured) through :func:`~core.retry.call_with_retries` before it reaches
the caller as :class:`BitpandaTransientError`. An answer that is not the documented shape raises
:class:`BitpandaApiError` naming the listing and the item.

Ledger mapping (origin ``bitpanda_api``, account ``bitpanda`` by default):
- ``/trades``: one BUY or SELL per trade (``trade:<id>``); ``value_eur`` = amount_fiat × fiat_to_eur_rate
  (EUR is 1; a zero rate is unknown, never a value). The asset is the trade's ``cryptocoin_symbol``
  (metals and stocks have no ``/wallets`` wallet) and its class comes from the wallet's category in
  ``/asset-wallets`` (``cryptocoin`` → crypto, ``commodity.metal`` → metal, ``security.stock`` →
  stock...; a wallet in no listing is ``unknown``, which the tax report excludes and names).
  The KESt Bitpanda withheld (``tax.attributes.amount_fiat``, on the trade or on the trade embedded
  in its ``/wallets/transactions`` item) is the entry's ``kest_withheld_eur``, and the cash it took
  is a TAX entry (``trade:<id>:tax``). The trade fee ``fee.attributes.fee_amount_in_fiat`` is
  included in ``amount_fiat`` (the fiat wallet moves exactly ``amount_fiat``): it is named in the
  description and kept in ``raw``, never charged a second time.
  A swap (crypto A → crypto B) is two trades with ``is_swap`` true, a sell of A and a buy of B at
  the same second: they become one SWAP entry (``trade:<sell id>+trade:<buy id>``, see
  :func:`core.accounts.common.merge_swap_legs`); a swap trade that cannot be paired stays a
  SELL/BUY and is named in :attr:`SyncResult.unpaired_swap_legs`.
- ``/wallets/transactions``: deposits, withdrawals, transfers and rewards of coins
  (``wallet-tx:<id>``); buys and sells are skipped there, they come from ``/trades``. Two
  transfers tagged ``merger_crypto`` at one second (MIOTA out, IOTA in) are a token migration: one
  SWAP entry (no realisation, the cost carries over). A metal storage fee
  (``is_metal_storage_fee``) is a FEE entry.
- ``/fiatwallets/transactions``: fiat deposits, withdrawals and transfers (``fiat-tx:<id>``); a
  ``refund`` tagged ``tax_withholding`` is KESt given back: a TAX entry with negative
  ``kest_withheld_eur``. Buys and sells are the fiat sides of trades and are skipped.
Only ``finished`` transactions are stored. A finished item of a type not listed here is kept as a
"needs review" entry (nothing moves until it is reviewed) and named in :attr:`SyncResult.needs_review`.
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

from core.accounts.common import DEFAULT_ACCOUNT, SWAP_LEG, needs_review_row, pair_swap_legs, store_entries
from core.audit import AuditAction, append_audit
from core.errors import KonsensError, PermanentError, TransientError
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


class BitpandaApiError(KonsensError, RuntimeError):
    """The API refused or answered something that is not its documented shape."""


class BitpandaAuthError(BitpandaApiError, PermanentError):
    """The API key was refused (401/403)."""


class BitpandaTransientError(BitpandaApiError, TransientError):
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

    def _get(self, path: str, params: dict[str, Any], *, listing: bool = True) -> dict[str, Any]:
        """GET ``path``, retrying transient failures; return the decoded answer or raise."""
        return call_with_retries(
            lambda: self._get_once(path, params, listing=listing),
            attempts=self.attempts,
            base_seconds=self.backoff_seconds,
            max_seconds=MAX_BACKOFF_SECONDS,
            retry_after=lambda error: getattr(error, "retry_after", None),
            sleep=self.sleep,
            description=f"Bitpanda GET {path}",
        )

    def _get_once(self, path: str, params: dict[str, Any], *, listing: bool = True) -> dict[str, Any]:
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
        if not isinstance(payload, dict) or not isinstance(payload.get("data"), list if listing else dict):
            raise BitpandaApiError(f"GET {path}: unexpected answer (no data {'list' if listing else 'object'})")
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

    def asset_wallets(self) -> list[dict[str, Any]]:
        """Every wallet of ``/asset-wallets`` (crypto, metals, stocks, ETFs, indices...), each with its ``category``.

        The answer nests wallet collections by category (``data.attributes.cryptocoin``,
        ``data.attributes.commodity.metal``, ``data.attributes.security.stock``...); each wallet comes
        back with ``category`` = the name of its collection (``cryptocoin``, ``metal``, ``stock``...).
        """
        payload = self._get("/asset-wallets", {}, listing=False)
        found: list[dict[str, Any]] = []
        _collect_wallets(payload["data"].get("attributes"), "", found)
        return found

    def trades(self) -> list[dict[str, Any]]:
        return list(self.paginate("/trades"))

    def wallet_transactions(self) -> list[dict[str, Any]]:
        return list(self.paginate("/wallets/transactions"))

    def fiat_transactions(self) -> list[dict[str, Any]]:
        return list(self.paginate("/fiatwallets/transactions"))


def _collect_wallets(node: Any, name: str, found: list[dict[str, Any]]) -> None:
    if not isinstance(node, dict):
        return
    attributes = node.get("attributes")
    if isinstance(attributes, dict) and isinstance(attributes.get("wallets"), list):
        for wallet in attributes["wallets"]:
            if not isinstance(wallet, dict) or "id" not in wallet or not isinstance(wallet.get("attributes"), dict):
                raise BitpandaApiError("GET /asset-wallets: unexpected answer (a wallet without id or attributes)")
            found.append({**wallet, "category": name})
        return
    for key, child in node.items():
        if key != "type":
            _collect_wallets(child, key, found)


# /asset-wallets categories → the ledger's asset classes (what the tax report decides by).
ASSET_WALLET_CLASSES = {
    "cryptocoin": "crypto",
    "leverage": "crypto",
    "metal": "metal",
    "commodity": "commodity",
    "index": "index",
    "stock": "stock",
    "equity_stock": "stock",
    "equity_right": "stock",
    "etf": "etf",
    "equity_etf": "etf",
    "equity_complex_etf": "etf",
    "etc": "etf",
    "equity_etc": "etf",
    "mutual_fund": "fund",
    "fiat_earn": "fund",
}
UNKNOWN_ASSET_CLASS = "unknown"  # a wallet in no listing: the tax report excludes it and says so


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


TRADE_SIDES = frozenset({"buy", "sell"})  # coin and fiat sides of trades in the transaction listings
MERGER_TAG = "merger_crypto"  # a token migration (MIOTA → IOTA): a rename, not a withdrawal and a deposit
TAX_WITHHOLDING_TAG = "tax_withholding"  # a fiat refund of KESt withheld before
MERGER_LEG = "_merger_leg"


@dataclass
class _Context:
    """What the listings tell about each other: wallets' coins and classes, fiat ids, trades' taxes, rates."""

    account: str
    coin_of_wallet: dict[Any, str]
    class_of_wallet: dict[Any, str]
    fiat_of_id: dict[Any, str]
    tax_of_trade: dict[Any, dict[str, Any]]
    fiat_rate_of: dict[Any, Decimal]  # fiat transaction id -> its usable (non-zero) EUR rate


def ledger_rows_from_api(
    wallets: list[dict[str, Any]],
    fiat_wallets: list[dict[str, Any]],
    trades: list[dict[str, Any]],
    wallet_transactions: list[dict[str, Any]],
    fiat_transactions: list[dict[str, Any]],
    *,
    account: str = DEFAULT_ACCOUNT,
    asset_wallets: list[dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """Turn the API listings into ledger rows (pure: no database).

    An item that lacks a documented field raises :class:`BitpandaApiError` naming the item.
    Swap trades come out as legs marked for :func:`~core.accounts.common.pair_swap_legs`.
    ``asset_wallets`` (from :meth:`BitpandaClient.asset_wallets`) give each wallet's asset class.
    """
    context = _context(wallets, fiat_wallets, trades, wallet_transactions, fiat_transactions, asset_wallets or [])
    context.account = account
    rows: list[dict[str, Any]] = []
    for trade in trades:
        with _shape(f"trade {trade.get('id')}"):
            rows.extend(_trade_rows(trade, context))
    mergers: list[dict[str, Any]] = []
    for transaction in wallet_transactions:
        with _shape(f"wallet transaction {transaction.get('id')}"):
            row = _wallet_transaction_row(transaction, context)
            if row is not None:
                (mergers if MERGER_LEG in row else rows).append(row)
    rows.extend(_pair_mergers(mergers, account))
    for transaction in fiat_transactions:
        with _shape(f"fiat transaction {transaction.get('id')}"):
            row = _fiat_transaction_row(transaction, context)
            if row is not None:
                rows.append(row)
    return rows


def _context(
    wallets: list[dict[str, Any]],
    fiat_wallets: list[dict[str, Any]],
    trades: list[dict[str, Any]],
    wallet_transactions: list[dict[str, Any]],
    fiat_transactions: list[dict[str, Any]],
    asset_wallets: list[dict[str, Any]],
) -> _Context:
    coin_of_wallet: dict[Any, str] = {}
    class_of_wallet: dict[Any, str] = {}
    with _shape("/asset-wallets"):
        for wallet in asset_wallets:
            coin_of_wallet[wallet["id"]] = wallet["attributes"]["cryptocoin_symbol"]
            class_of_wallet[wallet["id"]] = ASSET_WALLET_CLASSES.get(wallet.get("category", ""), UNKNOWN_ASSET_CLASS)
    with _shape("/wallets"):
        for wallet in wallets:  # /wallets lists the crypto wallets
            coin_of_wallet[wallet["id"]] = wallet["attributes"]["cryptocoin_symbol"]
            class_of_wallet.setdefault(wallet["id"], "crypto")
    with _shape("/fiatwallets"):
        fiat_of_id = {f["attributes"]["fiat_id"]: f["attributes"]["fiat_symbol"] for f in fiat_wallets}
    tax_of_trade: dict[Any, dict[str, Any]] = {}
    for transaction in wallet_transactions:  # the trade embedded in a coin transaction carries its tax
        attributes = transaction.get("attributes") if isinstance(transaction, dict) else None
        embedded = attributes.get("trade") if isinstance(attributes, dict) else None
        if isinstance(embedded, dict) and isinstance(embedded.get("attributes"), dict):
            tax = embedded["attributes"].get("tax")
            if isinstance(tax, dict):
                tax_of_trade[embedded.get("id")] = tax
    for trade in trades:
        attributes = trade.get("attributes") if isinstance(trade, dict) else None
        tax = attributes.get("tax") if isinstance(attributes, dict) else None
        if isinstance(tax, dict):
            tax_of_trade[trade.get("id")] = tax
    fiat_rate_of: dict[Any, Decimal] = {}
    for transaction in fiat_transactions:
        with _shape(f"fiat transaction {transaction.get('id')}"):
            rate = _decimal(transaction["attributes"].get("to_eur_rate") or "0", "to_eur_rate")
            if rate > 0:
                fiat_rate_of[transaction["id"]] = rate
    return _Context(DEFAULT_ACCOUNT, coin_of_wallet, class_of_wallet, fiat_of_id, tax_of_trade, fiat_rate_of)


def _eur_rate(fiat: str, rate_text: Any, what: str) -> Decimal | None:
    """EUR per unit of ``fiat``: 1 for EUR whatever the answer says; a zero or missing rate is unknown (None)."""
    if fiat.upper() == "EUR":
        return Decimal(1)
    rate = _decimal(rate_text or "0", what)
    return rate if rate > 0 else None


def _tags(attributes: dict[str, Any]) -> set[str]:
    tags = attributes.get("tags") or []
    if not isinstance(tags, list):
        raise BitpandaApiError(f"tags is not a list: {tags!r}")
    return {str(tag.get("attributes", {}).get("short_name")) for tag in tags if isinstance(tag, dict)}


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


def _trade_rows(trade: dict[str, Any], context: _Context) -> list[dict[str, Any]]:
    attributes = trade["attributes"]
    if attributes.get("status") != FINISHED:
        return []
    wallet_id = attributes.get("wallet_id")
    coin = attributes.get("cryptocoin_symbol") or context.coin_of_wallet.get(wallet_id)
    fiat = context.fiat_of_id.get(attributes.get("fiat_id"))
    if not coin:
        raise BitpandaApiError(f"no cryptocoin_symbol and unknown wallet {wallet_id}")
    if fiat is None:
        raise BitpandaApiError(f"unknown fiat_id {attributes.get('fiat_id')}")
    amount_fiat = _decimal(attributes["amount_fiat"], "amount_fiat")
    amount_coin = _decimal(attributes["amount_cryptocoin"], "amount_cryptocoin")
    rate = _eur_rate(fiat, attributes.get("fiat_to_eur_rate"), "fiat_to_eur_rate")
    if attributes["type"] not in ("buy", "sell"):
        raise BitpandaApiError(f"type must be buy or sell, got {attributes['type']!r}")
    is_buy = attributes["type"] == "buy"
    description = f"Bitpanda {attributes['type']} {coin}"
    fee = attributes.get("fee")
    if isinstance(fee, dict) and isinstance(fee.get("attributes"), dict):
        fee_fiat = _decimal(fee["attributes"].get("fee_amount_in_fiat") or "0", "fee_amount_in_fiat")
        if fee_fiat > 0:
            description += f" (fee {fee_fiat} {fiat} included in the amount)"
    row: dict[str, Any] = {
        "account": context.account,
        "origin": LedgerOrigin.BITPANDA_API,
        "ts": _time(attributes),
        "kind": LedgerKind.BUY if is_buy else LedgerKind.SELL,
        "external_id": f"trade:{trade['id']}",
        "sent_asset": fiat if is_buy else coin,
        "sent_quantity": amount_fiat if is_buy else amount_coin,
        "received_asset": coin if is_buy else fiat,
        "received_quantity": amount_coin if is_buy else amount_fiat,
        "value_eur": None if rate is None else amount_fiat * rate,
        "asset_class": context.class_of_wallet.get(wallet_id, UNKNOWN_ASSET_CLASS),
        "description": description,
        "raw": trade,
    }
    if attributes.get("is_swap") is True:
        row[SWAP_LEG] = "in" if is_buy else "out"
    rows = [row]
    tax = context.tax_of_trade.get(trade["id"])
    if tax is not None:
        tax_fiat = _decimal((tax.get("attributes") or {}).get("amount_fiat") or "0", "tax amount_fiat")
        if tax_fiat > 0:
            kest = None if rate is None else tax_fiat * rate
            row["kest_withheld_eur"] = kest
            rows.append(
                {
                    "account": context.account,
                    "origin": LedgerOrigin.BITPANDA_API,
                    "ts": row["ts"],
                    "kind": LedgerKind.TAX,
                    "external_id": f"trade:{trade['id']}:tax",
                    "sent_asset": fiat,
                    "sent_quantity": tax_fiat,
                    "value_eur": kest,
                    "asset_class": "fiat",
                    "description": f"KESt withheld by Bitpanda on the {attributes['type']} of {coin}",
                    "raw": {"trade_id": trade["id"], "tax": tax},
                }
            )
    return rows


def _wallet_transaction_row(transaction: dict[str, Any], context: _Context) -> dict[str, Any] | None:
    attributes = transaction["attributes"]
    if attributes.get("status") != FINISHED or attributes.get("type") in TRADE_SIDES:
        return None  # buys/sells come from /trades
    kind_key = (attributes.get("type"), attributes.get("in_or_out"))
    coin = attributes.get("cryptocoin_symbol") or context.coin_of_wallet.get(attributes.get("wallet_id"))
    if not coin:
        raise BitpandaApiError(f"unknown wallet {attributes.get('wallet_id')}")
    asset_class = context.class_of_wallet.get(attributes.get("wallet_id"), "crypto")
    amount_eur = attributes.get("amount_eur")
    value_eur = _decimal(amount_eur, "amount_eur") if amount_eur else None
    if attributes.get("is_metal_storage_fee") is True:
        row = _transfer_row(transaction, context.account, "wallet-tx", coin, asset_class, value_eur)
        row.update(kind=LedgerKind.FEE, description=f"Bitpanda metal storage fee {coin}")
        return row
    if MERGER_TAG in _tags(attributes) and attributes.get("type") == "transfer":
        row = _transfer_row(transaction, context.account, "wallet-tx", coin, asset_class, value_eur)
        row[MERGER_LEG] = "in" if attributes.get("in_or_out") == "incoming" else "out"
        return row
    if kind_key not in TRANSFER_KINDS:
        what = f"coin transaction of type {kind_key[0]!r} ({kind_key[1]}, {attributes.get('amount')} {coin})"
        return _review(transaction, context.account, "wallet-tx", what, asset_class)
    return _transfer_row(transaction, context.account, "wallet-tx", coin, asset_class, value_eur)


def _fiat_transaction_row(transaction: dict[str, Any], context: _Context) -> dict[str, Any] | None:
    attributes = transaction["attributes"]
    if attributes.get("status") != FINISHED or attributes.get("type") in TRADE_SIDES:
        return None  # the fiat sides of trades come with the trades
    fiat = context.fiat_of_id.get(attributes.get("fiat_id"))
    if fiat is None:
        raise BitpandaApiError(f"unknown fiat_id {attributes.get('fiat_id')}")
    rate = _eur_rate(fiat, attributes.get("to_eur_rate"), "to_eur_rate")
    if rate is None:  # a zero rate: the related transaction's rate (a refund's sale) where there is one
        rate = context.fiat_rate_of.get(attributes.get("related_fiat_wallet_transaction_id"))
    amount = _decimal(attributes["amount"], "amount")
    value_eur = None if rate is None else amount * rate
    kind_key = (attributes.get("type"), attributes.get("in_or_out"))
    if attributes.get("type") == "refund" and TAX_WITHHOLDING_TAG in _tags(attributes):
        row = _transfer_row(transaction, context.account, "fiat-tx", fiat, "fiat", value_eur)
        incoming = attributes.get("in_or_out") == "incoming"
        kest = None if value_eur is None else (-value_eur if incoming else value_eur)
        what = "refunded" if incoming else "withheld"
        row.update(
            kind=LedgerKind.TAX, kest_withheld_eur=kest, description=f"KESt {what} by Bitpanda ({amount} {fiat})"
        )
        return row
    if kind_key not in TRANSFER_KINDS:
        what = f"fiat transaction of type {kind_key[0]!r} ({kind_key[1]}, {attributes.get('amount')} {fiat})"
        return _review(transaction, context.account, "fiat-tx", what, "fiat")
    return _transfer_row(transaction, context.account, "fiat-tx", fiat, "fiat", value_eur)


def _review(transaction: dict[str, Any], account: str, id_prefix: str, what: str, asset_class: str) -> dict[str, Any]:
    return needs_review_row(
        ts=_time(transaction["attributes"]),
        account=account,
        origin=LedgerOrigin.BITPANDA_API,
        external_id=f"{id_prefix}:{transaction['id']}",
        raw=transaction,
        asset_class=asset_class,
        reason=f"Bitpanda API {what} is not a type this sync knows",
    )


def _pair_mergers(legs: list[dict[str, Any]], account: str) -> list[dict[str, Any]]:
    """One SWAP row per token migration (one outgoing and one incoming ``merger_crypto`` leg at one second)."""
    groups: dict[datetime, list[dict[str, Any]]] = {}
    for leg in legs:
        groups.setdefault(leg["ts"].replace(microsecond=0), []).append(leg)
    rows: list[dict[str, Any]] = []
    for group in groups.values():
        outs = [leg for leg in group if leg[MERGER_LEG] == "out"]
        ins = [leg for leg in group if leg[MERGER_LEG] == "in"]
        if len(outs) != 1 or len(ins) != 1:
            for leg in group:
                reason = (
                    f"Bitpanda API merger_crypto leg {leg['description']} without exactly one counterpart at "
                    f"{leg['ts'].isoformat()} ({len(outs)} out, {len(ins)} in)"
                )
                rows.append(
                    needs_review_row(
                        ts=leg["ts"],
                        account=account,
                        origin=LedgerOrigin.BITPANDA_API,
                        external_id=leg["external_id"],
                        raw=leg["raw"],
                        asset_class=leg["asset_class"],
                        reason=reason,
                    )
                )
            continue
        out, incoming = outs[0], ins[0]
        rows.append(
            {
                "account": account,
                "origin": LedgerOrigin.BITPANDA_API,
                "ts": out["ts"],
                "kind": LedgerKind.SWAP,
                "external_id": f"{out['external_id']}+{incoming['external_id']}",
                "sent_asset": out["sent_asset"],
                "sent_quantity": out["sent_quantity"],
                "received_asset": incoming["received_asset"],
                "received_quantity": incoming["received_quantity"],
                "value_eur": out["value_eur"],
                "asset_class": out["asset_class"],
                "description": f"Bitpanda token migration {out['sent_asset']} → {incoming['received_asset']} "
                "(merger_crypto): a rename, no realisation; the cost carries over",
                "raw": {"merger_legs": [out["raw"], incoming["raw"]]},
            }
        )
    return rows


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
        "kind": TRANSFER_KINDS.get((attributes.get("type"), attributes.get("in_or_out")), LedgerKind.TRANSFER_IN),
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
    needs_review: tuple[str, ...] = ()  # one line per item of an unknown type, kept as "needs review"


def sync_bitpanda(
    session: Session, client: BitpandaClient, *, account: str = DEFAULT_ACCOUNT, actor: str = "sync"
) -> SyncResult:
    """Fetch everything, then write the new ledger entries in the caller's transaction."""
    refuse_while_demo(session, RealAct.IMPORT_ACCOUNT_HISTORY)
    wallets = client.wallets()
    fiat_wallets = client.fiat_wallets()
    asset_wallets = client.asset_wallets()
    rows = ledger_rows_from_api(
        wallets,
        fiat_wallets,
        client.trades(),
        client.wallet_transactions(),
        client.fiat_transactions(),
        account=account,
        asset_wallets=asset_wallets,
    )
    balances: dict[str, Decimal] = {}
    crypto_ids = {wallet.get("id") for wallet in wallets}
    others = [wallet for wallet in asset_wallets if wallet.get("id") not in crypto_ids]  # metals, stocks...
    for listing, symbol_field in (
        (wallets, "cryptocoin_symbol"),
        (others, "cryptocoin_symbol"),
        (fiat_wallets, "fiat_symbol"),
    ):
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
    needs_review = tuple(row["description"] for row in pairing.rows if row["kind"] is LedgerKind.NEEDS_REVIEW)
    for line in needs_review:
        logger.warning("Bitpanda: kept as needs review (not used in balances or tax): %s", line)
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
        needs_review=needs_review,
    )
