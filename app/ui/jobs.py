"""The Jobs panel: queued and running jobs with progress updating in place, Cancel, and results.

A page submits long work with :func:`submit` (``core.jobs.service.submit_job``: refused with a
clear message and nothing stored if it cannot run) and shows :func:`jobs_panel`. While any job
in the panel is queued or running, the panel is a fragment that reruns every
``REFRESH_SECONDS`` and reads only the ``jobs`` rows (no candles, no results of other tables);
when one of them ends it reruns the page once, so the page's own views pick up the stored
result. Nothing lives in the browser session: closing the tab or a rerun loses nothing, the
worker goes on and the panel shows the job again on the next visit.

Results are shown by a per-kind renderer: ``register_renderer(kind, function)`` (a page or a
lab module registers its own; unknown kinds get their JSON).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

import streamlit as st

from app.ui.context import USERNAME_KEY, database, read
from app.ui.format import duration, vienna_time
from core.jobs.models import JobStatus
from core.jobs.service import (
    IllegalJobTransition,
    JobInfo,
    JobNotFound,
    JobRefused,
    list_jobs,
    request_cancel,
    submit_job,
)

REFRESH_SECONDS = 1.0
Renderer = Callable[[JobInfo, str], None]  # (the finished job, a widget key prefix)
_RENDERERS: dict[str, Renderer] = {}
STATUS_ICONS = {
    JobStatus.QUEUED: ":material/schedule:",
    JobStatus.RUNNING: ":material/progress_activity:",
    JobStatus.SUCCEEDED: ":material/check_circle:",
    JobStatus.FAILED: ":material/error:",
    JobStatus.CANCELLED: ":material/cancel:",
    JobStatus.INTERRUPTED: ":material/pause_circle:",
}


def register_renderer(kind: str, renderer: Renderer) -> None:
    """Show the results of ``kind`` jobs with ``renderer(job, key)`` (the last registration wins)."""
    _RENDERERS[kind] = renderer


def renderer_for(kind: str) -> Renderer:
    return _RENDERERS.get(kind, _json_result)


def _json_result(job: JobInfo, _key: str) -> None:
    st.json(job.result or {}, expanded=False)


def submit(kind: str, params: dict[str, Any], *, label: str | None = None) -> JobInfo | None:
    """Queue a job for the logged-in user; show why if it is refused (then nothing is stored)."""
    user = st.session_state.get(USERNAME_KEY)
    try:
        return database().run(
            lambda session: submit_job(session, kind, params, label=label, created_by=str(user) if user else None)
        )
    except JobRefused as error:
        st.error(str(error))
        return None


def _cancel(job_id: int) -> None:
    try:
        database().run(lambda session: request_cancel(session, job_id))
    except (JobNotFound, IllegalJobTransition) as error:
        st.toast(str(error))


def _progress_text(job: JobInfo) -> str:
    counts = f"{job.progress_done:,} of {job.progress_total:,}" if job.progress_total else ""
    parts = [part for part in (job.progress_message, counts) if part]
    return " · ".join(parts) or job.status.value


def render_job(job: JobInfo, key: str, *, open_result: bool = False) -> None:
    """One job: title, state, progress or outcome, Cancel while it is active."""
    with st.container(border=True):
        head, action = st.columns([5, 1], vertical_alignment="center")
        when = vienna_time(job.created_at)
        head.markdown(
            f"{STATUS_ICONS[job.status]} **#{job.id} {job.label}**  \n"
            f":gray[{job.status.value} · queued {when}"
            + (f" by {job.created_by}" if job.created_by else "")
            + (f" · attempt {job.attempts}" if job.attempts > 1 else "")
            + "]"
        )
        if not job.finished:
            fraction = job.fraction
            st.progress(fraction or 0.0, text=_progress_text(job))
            if job.cancel_requested:
                action.caption("cancelling…")
            else:
                action.button(
                    "Cancel", key=f"{key}_cancel_{job.id}", on_click=_cancel, args=(job.id,), icon=":material/stop:"
                )
            return
        if job.started_at is not None and job.finished_at is not None:  # (replaces the Cancel button in place)
            action.caption(f"took {duration(job.finished_at - job.started_at)}")
        else:
            action.empty()
        if job.status is JobStatus.SUCCEEDED:
            with st.expander(f"Result · {job.progress_message}", expanded=open_result):
                renderer_for(job.kind)(job, f"{key}_result_{job.id}")
        elif job.status is JobStatus.CANCELLED:
            st.caption(f"Cancelled · {job.progress_done:,} of {job.progress_total:,} done")
        else:
            st.error(job.error or job.status.value)


def jobs_panel(kinds: Collection[str] | None = None, *, key: str, title: str = "Jobs", limit: int = 6) -> None:
    """The newest ``limit`` jobs (of ``kinds``), updating in place while any of them is active."""
    chosen = list(kinds) if kinds is not None else None

    def newest() -> list[JobInfo]:
        return read(lambda session: list_jobs(session, limit=limit, kinds=chosen))

    shown = newest()
    if not shown:
        return
    active_at_start = {job.id for job in shown if not job.finished}

    @st.fragment(run_every=REFRESH_SECONDS if active_at_start else None)
    def panel() -> None:
        current = newest() if active_at_start else shown
        st.markdown(f"**{title}** — run by the jobs worker; closing this tab loses nothing")
        for position, job in enumerate(current):
            render_job(job, key, open_result=position == 0)
        still_active = {job.id for job in current if not job.finished}
        if active_at_start - still_active:
            st.rerun()  # a job ended: the whole page runs again and shows its stored result

    panel()
