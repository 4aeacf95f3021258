"""``konsens analyze``: one AI consensus now, a decision record (``--show``), a replay (``--replay``);
``konsens ai-history``: ask the analysts about past decision times (with a dry-run estimate)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

import typer

from app.cli._common import echo_json, fail, open_database
from core.ai.context import NotEnoughData
from core.ai.engine import analyse_instrument
from core.ai.records import RecordNotFound, load_record
from core.market.query import instrument_by_symbol


def _print_record(payload: dict[str, Any]) -> None:
    typer.echo(
        f"Opinion #{payload['id']} of {payload['analyst']} on {payload['symbol']} "
        f"(consensus #{payload['consensus_id']}), {payload['created_at']}"
    )
    typer.echo(f"  provider {payload['provider']}, model {payload['model']}, answered by {payload['model_version']}")
    typer.echo(f"  request parameters {payload['request_params']}; Konsens {payload['konsens_version']}")
    if payload["ok"]:
        typer.echo(f"  {payload['signal']} at {payload['confidence']:.0%} for {payload['horizon_hours']} h")
        typer.echo(f"  rationale: {payload['rationale']}")
    else:
        typer.echo(f"  FAILED: {payload['error']}")
    typer.echo(f"  figures checked {payload['claims_checked']}, false {payload['claims_false']}")
    for claim in payload["claims"]:
        mark = "ok" if claim["ok"] else f"FALSE ({claim['reason']}; snapshot {claim['true_value']})"
        typer.echo(f"    {claim['name']} = {claim['claimed']}: {mark}")
    typer.echo(
        f"  tokens {payload['prompt_tokens']}+{payload['completion_tokens']}, cost € {payload['cost_eur']} "
        f"(${payload['cost_usd']}), {payload['latency_ms']} ms, {payload['attempts']} call(s)"
        + (", contaminated period" if payload["contaminated"] else "")
    )
    snapshot = payload["snapshot"] or {}
    typer.echo(
        f"  snapshot as of {snapshot.get('as_of')}: {len(snapshot.get('recent_bars', []))} bars "
        f"({snapshot.get('timeframe')}), indicators {snapshot.get('indicators')}"
    )
    for headline in snapshot.get("headlines", []):
        typer.echo(f"    headline {headline['published_at']}: {headline['title']}")
    typer.echo(f"  prompt sha256 {payload['prompt_hash']}")
    typer.echo(f"  raw answer: {payload['answer']}")


def _show_record(opinion_id: int, as_json: bool) -> None:
    database = open_database()
    try:
        payload = database.run(lambda session: load_record(session, opinion_id).as_json())
    except RecordNotFound as error:
        fail(str(error))
    if as_json:
        echo_json(payload)
    else:
        _print_record(payload)


def _replay(opinion_id: int, ask: bool, as_json: bool) -> None:
    from core.ai.replay import replay_opinion

    database = open_database()
    try:
        outcome = replay_opinion(database, opinion_id, ask=ask)
    except RecordNotFound as error:
        fail(str(error))
    old = outcome.record.opinion
    new = outcome.new_result
    payload: dict[str, Any] = {
        "opinion_id": opinion_id,
        "prompt_identical": outcome.rebuilt.identical,
        "stored_prompt_hash": outcome.rebuilt.stored_hash,
        "rebuilt_prompt_hash": outcome.rebuilt.prompt_hash,
        "asked_again": new is not None,
        "not_asked_reason": outcome.not_asked_reason,
        "new_opinion_id": outcome.new_opinion_id,
        "old": {
            "signal": old.signal.value if old.signal else None,
            "confidence": old.confidence,
            "rationale": old.rationale,
            "error": old.error,
            "claims_false": old.claims_false,
        },
        "new": None
        if new is None
        else {
            "signal": new.opinion.signal.value if new.opinion else None,
            "confidence": new.opinion.confidence if new.opinion else None,
            "rationale": new.opinion.rationale if new.opinion else None,
            "error": new.error,
            "claims_false": len(new.claims.false_claims) if new.claims is not None else 0,
            "cost_eur": str(new.cost_eur) if new.cost_eur is not None else None,
        },
    }
    if as_json:
        echo_json(payload)
        return
    if outcome.rebuilt.stored_hash is None:
        typer.echo(f"Opinion #{old.id} of {old.analyst} had no prompt (a built-in analyst): nothing to rebuild.")
    elif outcome.rebuilt.identical:
        typer.echo(f"Prompt rebuilt from the stored snapshot: identical (sha256 {outcome.rebuilt.prompt_hash}).")
    else:
        typer.echo(
            f"Prompt rebuilt from the stored snapshot DIFFERS: stored {outcome.rebuilt.stored_hash}, rebuilt "
            f"{outcome.rebuilt.prompt_hash} (the prompt template changed since Konsens {old.konsens_version})."
        )
    if new is None:
        typer.echo(f"Not asked again: {outcome.not_asked_reason}.")
        return
    width = 44
    typer.echo(f"{'':<12}{'then (#' + str(old.id) + ')':<{width}}{'now (#' + str(outcome.new_opinion_id) + ')'}")
    rows = [
        ("signal", payload["old"]["signal"], payload["new"]["signal"]),
        ("confidence", old.confidence, new.opinion.confidence if new.opinion else None),
        ("false figs", old.claims_false, payload["new"]["claims_false"]),
        ("error", old.error, new.error),
    ]
    for label, then, now in rows:
        typer.echo(f"{label:<12}{then!s:<{width}}{now}")
    typer.echo(f"rationale then: {old.rationale}")
    typer.echo(f"rationale now:  {new.opinion.rationale if new.opinion else '-'}")


def register(cli: typer.Typer) -> None:
    @cli.command("analyze")
    def analyze(
        symbol: str | None = typer.Argument(None, help="Instrument symbol, e.g. BTC/EUR."),
        as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
        show: int | None = typer.Option(None, "--show", metavar="ID", help="Print the decision record of opinion ID."),
        replay: int | None = typer.Option(
            None, "--replay", metavar="ID", help="Rebuild opinion ID's prompt from its snapshot and ask again."
        ),
        ask: bool = typer.Option(True, "--ask/--no-ask", help="With --replay: ask the provider again."),
    ) -> None:
        """Run the AI consensus for one instrument now (all enabled analysts) and print it.

        With --show ID: print an opinion's decision record (snapshot, prompt hash, parameters, answer,
        checked figures, cost). With --replay ID: rebuild its prompt byte for byte and, if the provider
        is configured, ask again and show both answers side by side.
        """
        if show is not None:
            _show_record(show, as_json)
            return
        if replay is not None:
            _replay(replay, ask, as_json)
            return
        if symbol is None:
            fail("give an instrument symbol, or --show ID / --replay ID")
        database = open_database()
        instrument = database.run(lambda session: instrument_by_symbol(session, symbol))
        if instrument is None:
            fail(f"unknown instrument {symbol!r}")
        try:
            summary = analyse_instrument(database, instrument.id)
        except NotEnoughData as error:
            fail(str(error))
        if as_json:
            echo_json(summary.as_json())
            return
        outcome = summary.run.outcome
        flag = f"  [flagged: {outcome.flag_reason}]" if outcome.flagged else ""
        typer.echo(
            f"{summary.symbol}: {outcome.decision.value.upper()}  score {outcome.score:+.2f}  "
            f"agreement {outcome.agreement:.0%}  cost € {summary.run.cost_eur:.4f}{flag}"
        )
        for result in summary.run.results:
            if result.ok and result.opinion is not None:
                opinion = result.opinion
                cached = ", cached" if result.cached else ""
                typer.echo(
                    f"  {result.analyst:<16} {opinion.signal.value:<4} {opinion.confidence:>4.0%}  "
                    f"({result.model}, {result.latency_ms:.0f} ms{cached})  {opinion.rationale}"
                )
                if result.claims is not None and result.claims.has_false_claims:
                    typer.echo(f"  {'':<16} weight 0 — {result.claims.describe()}")
            else:
                typer.echo(f"  {result.analyst:<16} FAILED ({result.model}): {result.error}")

    @cli.command("ai-history")
    def ai_history(
        symbol: str | None = typer.Argument(None, help="Instrument symbol, e.g. BTC/EUR."),
        since: str | None = typer.Option(None, "--since", help="First decision time (date or ISO time, UTC)."),
        until: str | None = typer.Option(None, "--until", help="Last decision time (default: now)."),
        every_hours: float = typer.Option(24.0, "--every-hours", help="Hours between decision times."),
        analyst: list[str] = typer.Option(None, "--analyst", help="Only these analysts (repeatable)."),
        max_cost_eur: str | None = typer.Option(None, "--max-cost-eur", help="EUR cap of this run."),
        dry_run: bool = typer.Option(False, "--dry-run", help="Only print the estimate and contamination."),
        report: int | None = typer.Option(None, "--report", metavar="RUN", help="Print the results of run RUN."),
        as_json: bool = typer.Option(False, "--json", help="Print JSON."),
        job: bool = typer.Option(False, "--job", help="Queue the run for the jobs worker instead of running it here."),
    ) -> None:
        """Ask the analysts about past decision times, point in time (an AI backtest).

        Prints the estimate first ("about 412 calls, about € 3.10") and which periods lie before a
        model's training cutoff (contaminated: the model may know these prices); the run stops at
        its EUR cap. Results are reported apart for clean and contaminated periods.
        """
        from core.ai.history import HistoryRunError, history_report, parse_day, plan_history_run, run_history

        database = open_database()
        if report is not None:
            try:
                payload = database.run(lambda session: history_report(session, report))
            except HistoryRunError as error:
                fail(str(error))
            _print_report(payload, as_json)
            return
        if symbol is None or since is None:
            fail("give an instrument symbol and --since (or --report RUN)")
        if job:
            from app.cli.jobs import queue_job

            queue_job(
                "ai.history",
                {
                    "symbol": symbol,
                    "since": since,
                    "until": until,
                    "every_hours": every_hours,
                    "analysts": list(analyst or []),
                    "max_cost_eur": max_cost_eur,
                },
                as_json=as_json,
            )
            return
        cap: Decimal | None = None
        if max_cost_eur is not None:
            try:
                cap = Decimal(max_cost_eur)
            except InvalidOperation:
                fail(f"--max-cost-eur must be a number of euros, got {max_cost_eur!r}")
            if not cap.is_finite() or cap < 0:
                fail("--max-cost-eur must be 0 or more")
        try:
            start = parse_day(since)
            end = parse_day(until) if until else None

            def plan_it(session: Any) -> Any:
                instrument = instrument_by_symbol(session, symbol)
                if instrument is None:
                    raise HistoryRunError(f"unknown instrument {symbol!r}")
                from core.timeutil import utc_now

                return plan_history_run(
                    session,
                    instrument,
                    since=start,
                    until=end or utc_now(),
                    every_hours=every_hours,
                    analyst_names=analyst or None,
                )

            plan = database.run(plan_it)
        except HistoryRunError as error:
            fail(str(error))
        if dry_run:
            if as_json:
                echo_json(plan.as_json())
                return
            typer.echo(
                f"{plan.symbol}: {len(plan.points)} decision times × {len(plan.analysts)} analysts — {plan.describe()}"
            )
            for item in plan.contamination:
                typer.echo(f"  {item.describe()}")
            return
        if not as_json:
            typer.echo(f"{plan.symbol}: {plan.describe()}; starting")
            for item in plan.contamination:
                typer.echo(f"  {item.describe()}")
        result = run_history(
            database, plan, cost_cap_eur=cap, progress=None if as_json else lambda line: typer.echo(f"  {line}")
        )
        payload = database.run(lambda session: history_report(session, result.run_id))
        _print_report(payload, as_json)


def _print_report(payload: dict[str, Any], as_json: bool) -> None:
    if as_json:
        echo_json(payload)
        return
    typer.echo(
        f"AI history run #{payload['run_id']} {payload['symbol']} {payload['status']}: "
        f"{payload['points_done']}/{payload['points_planned']} decision times, € {payload['cost_eur']} spent "
        f"(estimate € {payload['estimated_cost_eur']}, cap € {payload['cost_cap_eur']})"
    )
    if payload["stop_reason"]:
        typer.echo(f"  stopped: {payload['stop_reason']}")
    for name in ("clean", "contaminated_periods"):
        part = payload[name]
        label = "clean periods" if name == "clean" else "contaminated: the model may know these prices"
        hit_rate = f"{part['hit_rate']:.0%}" if part["hit_rate"] is not None else "-"
        typer.echo(
            f"  {label}: {part['decisions']} decisions, {part['buy_or_sell']} buy/sell, hit rate {hit_rate}, "
            f"return following {part['return_following']:+.2%}"
        )
