"""Trading commands: ``konsens audit verify``, ``konsens order place | cancel | list | show``,
``konsens paper deposit``, ``konsens import bitpanda FILE``.

Order commands only write intents (like the Trade page); the executor worker carries them out.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from app.cli._common import echo_json, fail, import_group, open_database
from core.execution.enums import OrderSide, OrderType, TimeInForce

if TYPE_CHECKING:
    from core.execution.orders import ExitSpec

# Each command imports what it needs when it runs: `order list` loads the Core read models only
# (no ORM), not the order service, the audit chain or the encryption the other commands use.

ACTOR = "cli"


def _exit_spec(text: str | None, name: str) -> ExitSpec | None:
    """Parse ``95000`` (price), ``5%`` (percent of entry) or ``2atr`` (ATR multiple)."""
    from core.execution.orders import ExitKind, ExitSpec

    if not text:
        return None
    value = text.strip().lower()
    try:
        if value.endswith("%"):
            return ExitSpec(ExitKind.PERCENT, Decimal(value[:-1]))
        if value.endswith("atr"):
            return ExitSpec(ExitKind.ATR, Decimal(value[:-3]))
        return ExitSpec(ExitKind.PRICE, Decimal(value))
    except Exception:
        fail(f"{name}: expected a price, a percent (5%) or an ATR multiple (2atr), got {text!r}")


def register(cli: typer.Typer) -> None:
    audit = typer.Typer(help="The append-only, hash-chained audit log.", no_args_is_help=True)

    @audit.command("verify")
    def verify() -> None:
        """Check the audit log's hash chain; name the first broken row (exit 1 if broken)."""
        from core.audit import verify_audit_chain

        database = open_database()
        with database.session() as session:
            result = verify_audit_chain(session)
        if result.ok:
            typer.echo(result.describe())
            return
        typer.secho(result.describe(), err=True, fg=typer.colors.RED)
        raise typer.Exit(1)

    cli.add_typer(audit, name="audit")

    order = typer.Typer(
        help="Place, cancel and list orders (the executor worker carries them out).", no_args_is_help=True
    )

    @order.command("place")
    def place(
        symbol: str = typer.Argument(..., help="Instrument, e.g. BTC/EUR."),
        side: OrderSide = typer.Argument(..., help="buy or sell."),
        quantity: str | None = typer.Option(None, "--quantity", "-q", help="Base quantity."),
        amount_eur: str | None = typer.Option(None, "--eur", help="EUR amount instead of a quantity."),
        order_type: OrderType = typer.Option(OrderType.MARKET, "--type", "-t"),
        limit: str | None = typer.Option(None, "--limit", help="Limit price."),
        stop: str | None = typer.Option(None, "--stop", help="Stop (trigger) price."),
        time_in_force: TimeInForce = typer.Option(TimeInForce.GTC, "--tif"),
        stop_loss: str | None = typer.Option(None, "--stop-loss", help="Price, 5% or 2atr."),
        take_profit: str | None = typer.Option(None, "--take-profit", help="Price, 5% or 2atr."),
        trailing: str | None = typer.Option(None, "--trailing", help="Distance: price, 5% or 2atr."),
        live: bool = typer.Option(False, "--live", help="Send to the live venue (live mode must be on)."),
        confirm_live: bool = typer.Option(False, "--confirm-live", help="Explicit confirmation of a live order."),
    ) -> None:
        """Queue an order; prints its client order id and status (rejected tickets say why)."""
        from core.execution.orders import AttachedExits, OrderRequest, to_decimal
        from core.execution.service import place_order

        database = open_database()
        try:
            request = OrderRequest(
                symbol=symbol,
                side=side,
                order_type=order_type,
                quantity=to_decimal(quantity, "quantity") if quantity else None,
                amount_eur=to_decimal(amount_eur, "EUR amount") if amount_eur else None,
                limit_price=to_decimal(limit, "limit price") if limit else None,
                stop_price=to_decimal(stop, "stop price") if stop else None,
                time_in_force=time_in_force,
                exits=AttachedExits(
                    _exit_spec(stop_loss, "--stop-loss"),
                    _exit_spec(take_profit, "--take-profit"),
                    _exit_spec(trailing, "--trailing"),
                ),
                live=live,
                live_confirmed=confirm_live,
            )
        except ValueError as error:
            fail(str(error))
        with database.session() as session:
            created = place_order(session, request, actor=ACTOR)
            client_id, status, reason = created.client_order_id, created.status.value, created.reject_reason
        if reason:
            typer.secho(f"{client_id} {status}: {reason}", err=True, fg=typer.colors.RED)
            raise typer.Exit(1)
        typer.echo(f"{client_id} {status} (the executor worker will submit it)")

    @order.command("cancel")
    def cancel(client_order_id: str = typer.Argument(...)) -> None:
        """Request the cancel of an order (carried out by the executor)."""
        from core.execution.service import CancelError, request_cancel

        database = open_database()
        try:
            with database.session() as session:
                request_cancel(session, client_order_id, actor=ACTOR)
        except CancelError as error:
            fail(str(error))
        typer.echo(f"cancel of {client_order_id} requested")

    @order.command("list")
    def list_orders(
        all_orders: bool = typer.Option(False, "--all", help="Include final orders."),
        as_json: bool = typer.Option(False, "--json"),
        limit: int = typer.Option(50),
    ) -> None:
        """List open orders (or, with --all, the newest orders)."""
        # SQLAlchemy Core reads (no ORM, no metrics): the command's start-up is most of its time.
        from core.execution.order_rows import open_orders, order_history
        from core.market.precision import display_precisions
        from core.numbers import eur

        database = open_database(metrics=False)
        rows, precisions = database.read(
            lambda c: (order_history(c, limit=limit) if all_orders else open_orders(c), display_precisions(c))
        )
        if as_json:
            echo_json([row.__dict__ for row in rows])
            return
        if not rows:
            typer.echo("no orders")
        for row in rows:
            rule = precisions[row.symbol]  # the number style: quantity at the lot step, price at the tick
            amount = rule.quantity(row.quantity) if row.quantity is not None else eur(row.amount_eur)
            price = f" @ {rule.price(row.limit_price)}" if row.limit_price is not None else ""
            why = f" ({row.reject_reason})" if row.reject_reason else ""
            typer.echo(
                f"{row.client_order_id}  {row.created_at:%Y-%m-%d %H:%M:%S}  {row.mode:5} {row.side:4} "
                f"{amount} {row.symbol} {row.order_type}{price}  {row.status}{why}"
            )

    @order.command("show")
    def show(client_order_id: str = typer.Argument(...)) -> None:
        """Show an order's state changes."""
        from core.execution.queries import order_events, order_history

        database = open_database()
        rows = database.run(
            lambda s: [r for r in order_history(s, limit=100000) if r.client_order_id == client_order_id]
        )
        if not rows:
            fail(f"no order with client order id {client_order_id}")
        events = database.run(lambda s: order_events(s, order_id=rows[0].id))
        for event in events:
            note = f"  {event.note}" if event.note else ""
            typer.echo(
                f"{event.ts:%Y-%m-%d %H:%M:%S.%f}  {event.from_status or '-':>16} → {event.to_status:16} "
                f"{event.actor}{note}"
            )

    cli.add_typer(order, name="order")

    paper = typer.Typer(help="The paper trading account.", no_args_is_help=True)

    @paper.command("deposit")
    def deposit(amount_eur: str = typer.Argument(..., help="EUR to add as play money.")) -> None:
        """Add play money to the paper account."""
        from core.execution.service import deposit_paper_cash

        database = open_database()
        try:
            with database.session() as session:
                deposit_paper_cash(session, Decimal(amount_eur), actor=ACTOR)
        except Exception as error:
            fail(f"deposit refused: {error}")
        from core.numbers import eur

        typer.echo(f"deposited {eur(Decimal(amount_eur))} into the paper account")

    cli.add_typer(paper, name="paper")

    @import_group.command("bitpanda")
    def import_bitpanda(
        file: Path = typer.Argument(..., help="Bitpanda CSV export (History → Export)."),
        account: str = typer.Option("bitpanda", help="Ledger account name."),
    ) -> None:
        """Import a Bitpanda CSV export into the ledger (re-importing stores nothing twice)."""
        from core.accounts.bitpanda_csv import BitpandaCsvError, import_bitpanda_csv  # pandas: only here
        from core.security.demo_guard import DemoModeError

        database = open_database()
        try:
            with database.session() as session:
                result = import_bitpanda_csv(session, file, account=account, actor=ACTOR)
        except (BitpandaCsvError, DemoModeError) as error:
            fail(f"{file.name}: {error} (nothing imported)")
        typer.echo(
            f"{file.name}: {result.rows} rows, {result.new_entries} new ledger entries, "
            f"{result.skipped_existing} already imported"
            + (f", {result.swaps} swaps (two rows each, one entry)" if result.swaps else "")
        )
        for line in result.messages():
            typer.echo(f"{file.name}: {line}")
