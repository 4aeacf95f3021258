"""``konsens jobs list | show | cancel``: the queue of long work run by the jobs worker."""

from __future__ import annotations

import typer

from app.cli._common import echo_json, fail, open_database


def _bar(done: int, total: int, width: int = 20) -> str:
    if total <= 0:
        return "·" * width
    filled = round(width * min(1.0, done / total))
    return "█" * filled + "·" * (width - filled)


def register(cli: typer.Typer) -> None:
    jobs = typer.Typer(help="Long runs (sweeps, searches, replays) queued for the jobs worker.", no_args_is_help=True)

    @jobs.command("list")
    def list_command(
        limit: int = typer.Option(20, "--limit", help="How many jobs, newest first."),
        status: list[str] = typer.Option([], "--status", help="Only jobs of this status (repeatable)."),
        as_json: bool = typer.Option(False, "--json", help="Print the jobs as JSON (without results)."),
    ) -> None:
        """List jobs, newest first, with their progress."""
        from app.ui.format import vienna_time
        from core.jobs.models import JobStatus
        from core.jobs.service import list_jobs

        known = {member.value: member for member in JobStatus}
        wrong = [value for value in status if value not in known]
        if wrong:
            fail(f"unknown job status {wrong[0]!r} (choose from {', '.join(known)})")
        chosen = [known[value] for value in status]
        found = open_database().run(lambda session: list_jobs(session, limit=limit, statuses=chosen))
        if as_json:
            echo_json([job.to_dict(with_result=False) for job in found])
            return
        if not found:
            typer.echo("No jobs.")
            return
        for job in found:
            progress = f"{job.progress_done}/{job.progress_total}" if job.progress_total else ""
            typer.echo(
                f"{job.id:>5}  {vienna_time(job.created_at)}  {job.status.value:<11}  "
                f"{_bar(job.progress_done, job.progress_total) if not job.finished else ' ' * 20} {progress:>9}  "
                f"{job.label}"
            )

    @jobs.command("show")
    def show(
        job_id: int = typer.Argument(..., help="The job's number (konsens jobs list)."),
        as_json: bool = typer.Option(False, "--json", help="Print the job and its result as JSON."),
    ) -> None:
        """Show one job: parameters, progress, error or result."""
        import json

        from app.ui.format import vienna_time
        from core.jobs.service import get_job

        job = open_database().run(lambda session: get_job(session, job_id))
        if job is None:
            fail(f"no job {job_id}")
        if as_json:
            echo_json(job.to_dict())
            return
        typer.echo(f"Job {job.id}: {job.label} ({job.kind})")
        typer.echo(
            f"  status     {job.status.value}"
            + ("  (cancel requested)" if job.cancel_requested and not job.finished else "")
        )
        typer.echo(
            f"  progress   {_bar(job.progress_done, job.progress_total)} {job.progress_done}/"
            f"{job.progress_total}  {job.progress_message}"
        )
        typer.echo(f"  queued     {vienna_time(job.created_at)}" + (f" by {job.created_by}" if job.created_by else ""))
        if job.started_at is not None:
            typer.echo(f"  started    {vienna_time(job.started_at)} (attempt {job.attempts}, worker {job.worker})")
        if job.finished_at is not None:
            typer.echo(f"  finished   {vienna_time(job.finished_at)}")
        typer.echo(f"  parameters {json.dumps(job.params, sort_keys=True)}")
        if job.error:
            typer.echo(f"  error      {job.error}")
        if job.result is not None:
            typer.echo("  result")
            typer.echo(json.dumps(job.result, indent=2, sort_keys=True))

    @jobs.command("cancel")
    def cancel(job_id: int = typer.Argument(..., help="The job's number (konsens jobs list).")) -> None:
        """Cancel a job: a queued one at once, a running one within about a second."""
        from core.jobs.service import IllegalJobTransition, JobNotFound, request_cancel

        try:
            job = open_database().run(lambda session: request_cancel(session, job_id))
        except (JobNotFound, IllegalJobTransition) as error:
            fail(str(error))
        if job.finished:
            typer.echo(f"Job {job_id} cancelled.")
        else:
            typer.echo(f"Job {job_id}: cancel requested; the jobs worker stops it within about a second.")

    cli.add_typer(jobs, name="jobs")


def queue_job(kind: str, params: dict[str, object], *, as_json: bool) -> None:
    """Submit a job from a command's ``--job`` option and print its number (or fail with the reason)."""
    from core.jobs.service import JobRefused, submit_job

    try:
        job = open_database().run(lambda session: submit_job(session, kind, params, created_by="cli"))
    except JobRefused as error:
        fail(str(error))
    if as_json:
        echo_json(job.to_dict())
        return
    typer.echo(
        f"Queued job {job.id}: {job.label}. Follow it with `konsens jobs show {job.id}` "
        "(the jobs worker runs it: `konsens up` or `konsens worker jobs`)."
    )
