"""``konsens metrics | doctor | backup | restore``: what an operator runs."""

from __future__ import annotations

from pathlib import Path

import typer

from app.cli._common import fail, open_database


def register(cli: typer.Typer) -> None:
    @cli.command("metrics")
    def metrics(
        local: bool = typer.Option(False, "--local", help="Only read the database state here; ask no process."),
        timeout: float = typer.Option(1.0, help="Seconds to wait for each process's /metrics."),
    ) -> None:
        """Print one scrape of every running Konsens process (and the database state) for a quick look."""
        from core.observability.scrape import scrape_everything

        database = open_database()
        from workers.registry import worker_modules

        text = scrape_everything(
            database, worker_names=list(worker_modules()), ask_processes=not local, timeout_seconds=timeout
        )
        typer.echo(text, nl=False)

    @cli.command("backup")
    def backup(
        output: Path | None = typer.Option(
            None, "--output", help="Folder for the archive (default KONSENS_HOME/backups)."
        ),
    ) -> None:
        """Write a consistent backup (database, key files, manifest) while the workers run."""
        from core.backup.archive import BackupError
        from core.backup.schedule import backup_now
        from core.config import get_settings
        from core.observability.settings import ObservabilitySettings

        database = open_database()
        settings = ObservabilitySettings()
        home = get_settings().home
        try:
            archive = backup_now(database, home, output or settings.effective_backup_dir(home), settings)
        except BackupError as error:
            fail(f"backup failed: {error}")
        typer.echo(f"Backup written: {archive} ({archive.stat().st_size:,} bytes)")

    @cli.command("restore")
    def restore(
        archive: Path = typer.Argument(..., help="A konsens-backup-*.tar.gz archive."),
        force: bool = typer.Option(False, "--force", help="Replace a target that holds data (backed up first)."),
    ) -> None:
        """Restore a backup into an empty KONSENS_HOME / database; verify checksums, row counts and the audit chain."""
        from core.backup.archive import BackupError, restore_backup
        from core.config import get_settings
        from core.observability.settings import ObservabilitySettings

        database = open_database()
        settings = ObservabilitySettings()
        home = get_settings().home
        try:
            result = restore_backup(
                archive,
                database,
                home,
                force=force,
                pre_restore_dir=settings.effective_backup_dir(home),
                pg_dump=settings.backup_pg_dump,
                pg_restore=settings.backup_pg_restore,
            )
        except BackupError as error:
            fail(f"restore refused: {error}")
        if result.pre_restore_backup is not None:
            typer.echo(f"The previous contents were backed up to {result.pre_restore_backup}")
        manifest = result.manifest
        rows = sum(count for table, count in result.row_counts.items() if table != "alembic_version")
        typer.echo(
            f"Restored the backup of {manifest['created_at']} (Konsens {manifest['app_version']}, "
            f"{manifest['database_kind']}): {rows:,} rows in {len(result.row_counts)} tables"
        )
        if not result.ok:
            for problem in result.problems:
                typer.secho(f"check failed: {problem}", err=True, fg=typer.colors.RED)
            raise typer.Exit(1)
        typer.echo("Row counts and the audit chain match the manifest.")

    @cli.command("doctor")
    def doctor() -> None:
        """Check configuration, database, migrations, key files, workers, feeds, disk, clock and backups."""
        from core.config import get_settings
        from core.db.engine import get_database
        from core.logging_setup import configure_logging
        from core.observability.doctor import Verdict, run_checks

        marks = {Verdict.OK: "ok  ", Verdict.WARNING: "warn", Verdict.PROBLEM: "FAIL"}
        try:
            settings = get_settings()
        except Exception as error:  # the base settings themselves do not load
            fail(f"configuration: {str(error).splitlines()[0]} (check KONSENS_* variables and config.toml)")
        configure_logging("ERROR")
        findings = run_checks(get_database(), settings.home)
        for finding in findings:
            typer.echo(f"[{marks[finding.verdict]}] {finding.check}: {finding.detail}")
            if finding.fix and finding.verdict is not Verdict.OK:
                typer.echo(f"       fix: {finding.fix}")
        problems = sum(1 for finding in findings if finding.verdict is Verdict.PROBLEM)
        warnings = sum(1 for finding in findings if finding.verdict is Verdict.WARNING)
        typer.echo(f"{problems} problem(s), {warnings} warning(s).")
        raise typer.Exit(1 if problems else 0)
