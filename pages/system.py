"""System: worker heartbeats, data freshness per instrument and source, quarantine, the database."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from app.ui.context import database, page_setup, read
from app.ui.format import byte_size, duration, vienna_time
from app.ui.tables import coloured_by
from core.backup.schedule import backup_status
from core.jobs.service import job_counts, list_jobs
from core.market.streaming import feed_overview
from core.news.status import source_statuses
from core.security.events import security_events
from core.system.status import Health, data_freshness, database_status, quarantine_summary, worker_states
from core.timeutil import utc_now

HEALTH_LABELS = {health: f"● {health.value}" for health in Health}
HEALTH_COLOURS = {
    HEALTH_LABELS[Health.OK]: "#26a69a",
    HEALTH_LABELS[Health.LATE]: "#f5a623",
    HEALTH_LABELS[Health.STALE]: "#ff7043",
    HEALTH_LABELS[Health.FAILED]: "#ef5350",
    HEALTH_LABELS[Health.STOPPED]: "#8b93a7",
}


def table_panel(
    title: str, rows: Sequence[dict[str, Any]], *, key: str, empty: str, by_health: bool = False
) -> DeltaGenerator:
    """One bordered panel: a bold title, then the rows as a table (coloured by "Health") or ``empty``."""
    panel = st.container(border=True)
    panel.markdown(title)
    if rows:
        table = coloured_by(list(rows), "Health", HEALTH_COLOURS) if by_health else list(rows)
        panel.dataframe(table, hide_index=True, width="stretch", key=key)
    else:
        panel.caption(empty)
    return panel


page_setup("System", ":material/monitor_heart:")

now = utc_now()
workers = read(lambda session: worker_states(session, now=now))
freshness = read(lambda session: data_freshness(session, now=now))
quarantine = read(quarantine_summary)
news_sources = read(source_statuses)
feeds = read(lambda session: feed_overview(session, now=now))
status = database_status(database())
health = status.health

tiles = st.columns(4)
healthy_workers = sum(1 for item in workers if item.health is Health.OK)
tiles[0].metric("Workers ok", f"{healthy_workers} / {len(workers)}")
fresh = sum(1 for item in freshness if item.health is Health.OK)
tiles[1].metric("Fresh data series", f"{fresh} / {len(freshness)}")
tiles[2].metric("Quarantined rows", f"{quarantine.total:,}")
tiles[3].metric(
    f"Database ({health.kind})",
    byte_size(health.size_bytes) if health.ok else "down",
    help=f"Health check answered in {health.latency_ms:.1f} ms" if health.ok else health.error,
)

table_panel(
    "**Workers** — last pass: its work time, waits for changes, rate limits and backoffs left out",
    [
        {
            "Worker": item.worker,
            "Health": HEALTH_LABELS[item.health],
            "Status": item.status.value,
            "Last beat": vienna_time(item.last_beat_at, "%Y-%m-%d %H:%M:%S"),
            "Ago": duration(item.age),
            "Passes": item.passes,
            "Last pass (work)": f"{item.last_pass_seconds:.2f} s" if item.last_pass_seconds is not None else "–",
            "Last error": item.last_error or "",
            "Error at": vienna_time(item.last_error_at),
            "Host / PID": f"{item.host or '?'} / {item.pid or '?'}",
        }
        for item in workers
    ],
    key="workers_table",
    empty="No worker has reported yet. Start them with `konsens up` or `konsens worker NAME`.",
    by_health=True,
)

table_panel(
    "**Data freshness** — newest candle per instrument, source and timeframe",
    [
        {
            "Instrument": item.symbol,
            "Source": item.source,
            "Timeframe": item.timeframe,
            "Newest candle": vienna_time(item.latest_ts),
            "Age": duration(item.age),
            "Bars behind": f"{item.bars_behind:.1f}",
            "Health": HEALTH_LABELS[item.health],
        }
        for item in freshness
    ],
    key="freshness_table",
    empty="No candles stored yet.",
    by_health=True,
)

table_panel(
    "**Market feeds** — streamed quotes and candles; a silent stream falls back to REST polling",
    [
        {
            "Feed": item.name,
            "Instruments": ", ".join(item.symbols),
            "State": item.state,
            "Lag": f"{item.lag_seconds:.1f} s" if item.lag_seconds is not None else "–",
            "Reconnects": item.reconnects,
            "Messages": item.messages,
            "Garbage frames": item.garbage,
            "Last error": item.last_error or "",
        }
        for item in feeds
    ],
    key="market_feeds_table",
    empty="No market stream is running (the market worker starts one per streaming source).",
)

table_panel(
    "**News and social sources** — each fetched on its own schedule; a failing one never stops the others",
    [
        {
            "Source": item.source,
            "Platform": item.platform,
            "Status": item.status.value,
            "Last success": vienna_time(item.last_success_at),
            "Next due": vienna_time(item.next_due_at),
            "Failures in a row": item.consecutive_failures,
            "Items (last / total)": f"{item.items_last_fetch} / {item.items_stored_total}",
            "Calls today": item.calls_today if item.calls_today is not None else "",
            "Last error": item.last_error or "",
        }
        for item in news_sources
    ],
    key="news_sources_table",
    empty="No news source has run yet (the news worker fetches the sources enabled in Settings → News).",
)

quarantine_panel = table_panel(
    f"**Quarantine** — rows refused by validation ({quarantine.total:,})",
    [
        {
            "Kind": group.kind,
            "Source": group.source,
            "Reason": group.reason,
            "Rows": group.count,
            "Latest": vienna_time(group.latest_at),
        }
        for group in quarantine.groups
    ],
    key="quarantine_groups",
    empty="Nothing quarantined.",
)
if quarantine.groups:
    with quarantine_panel.expander(f"Latest {len(quarantine.latest)} rows"):
        st.dataframe(
            [
                {
                    "At": vienna_time(row.created_at, "%Y-%m-%d %H:%M:%S"),
                    "Kind": row.kind,
                    "Source": row.source,
                    "Reason": row.reason,
                    "Key": row.record_key or "",
                    "Payload": str(row.payload or ""),
                }
                for row in quarantine.latest
            ],
            hide_index=True,
            width="stretch",
        )

security = read(lambda session: security_events(session, since=now - timedelta(hours=24)))
table_panel(
    f"**Security** — failed logins and security changes from the audit log "
    f"({security.failed_logins_since} failed or locked logins in the last 24 h)",
    [
        {
            "At": vienna_time(event.ts, "%Y-%m-%d %H:%M:%S"),
            "Event": event.action.value.replace("_", " "),
            "Actor": event.actor,
            "Subject": event.subject,
            "Details": ", ".join(f"{key}: {value}" for key, value in event.details.items()),
        }
        for event in security.events
    ],
    key="security_events",
    empty="No security events yet.",
)

with st.container(border=True):
    st.markdown("**Jobs** — sweeps, searches and replays run by the jobs worker (`konsens jobs list`)")
    job_totals = read(job_counts)
    recent_jobs = read(lambda session: list_jobs(session, limit=8))
    counters = st.columns(len(job_totals))
    for column, (job_status, count) in zip(counters, job_totals.items(), strict=True):
        column.metric(job_status.value.capitalize(), count)
    if recent_jobs:
        st.dataframe(
            [
                {
                    "Job": job.id,
                    "Kind": job.kind,
                    "Label": job.label,
                    "Status": job.status.value,
                    "Progress": f"{job.progress_done:,} / {job.progress_total:,}" if job.progress_total else "–",
                    "Queued": vienna_time(job.created_at),
                    "Worker": job.worker or "",
                    "Error": job.error or "",
                }
                for job in recent_jobs
            ],
            hide_index=True,
            width="stretch",
            key="jobs_table",
        )
    elif "jobs" not in {item.worker for item in workers}:
        st.caption("No jobs yet. The jobs worker runs them (`konsens up` starts it, or `konsens worker jobs`).")

with st.container(border=True):
    st.markdown("**Database**")
    if not health.ok:
        st.error(f"The database does not answer: {health.error}")
    details = st.columns(3)
    details[0].markdown(
        f"Kind: **{health.kind}**{' + TimescaleDB' if health.timescaledb else ''}  \n"
        f"Size: **{byte_size(health.size_bytes)}**  \nLatency: **{health.latency_ms:.1f} ms**"
    )
    details[1].markdown(f"URL: `{health.url}`")
    details[2].markdown(
        f"Migrations applied: **{', '.join(status.applied_revisions) or 'none'}**  \n"
        f"Pending: **{', '.join(status.pending_revisions) or 'none'}**"
    )
with st.container(border=True):
    st.markdown("**Backups** — `konsens backup`, or the backup worker on its schedule; `konsens restore ARCHIVE`")
    backups = read(backup_status)
    if backups.failing:
        st.error(f"The last backup failed ({vienna_time(backups.last_failure_at)}): {backups.last_error}")
    if backups.last_success_at is None:
        st.caption("No backup yet. Run `konsens backup` or start the backup worker (`konsens up` does).")
    else:
        st.markdown(
            f"Last success: **{vienna_time(backups.last_success_at)}** ({duration(now - backups.last_success_at)} ago)"
            f"  \nArchive: `{backups.last_archive}` ({byte_size(backups.last_size_bytes)})"
        )
st.caption(f"As of {vienna_time(now, '%Y-%m-%d %H:%M:%S')} (Vienna time).")
