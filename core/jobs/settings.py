"""Settings of the jobs worker: how it waits, how often a running job reports, when a job is abandoned."""

from __future__ import annotations

from pydantic import Field

from core.config import KonsensSettingsBase


class JobsSettings(KonsensSettingsBase):
    """``KONSENS_JOBS_*``."""

    jobs_poll_seconds: float = Field(
        default=30.0, gt=0, le=3600, description="Safety poll of the jobs worker when no wake-up arrives."
    )
    jobs_pass_seconds: float = Field(
        default=60.0, gt=0, le=3600, description="Length of one jobs worker pass (one heartbeat per pass)."
    )
    jobs_progress_seconds: float = Field(
        default=0.5, gt=0, le=60, description="A running job's progress and checkpoint are stored at most this often."
    )
    jobs_stale_seconds: float = Field(
        default=60.0, gt=0, le=86400, description="A running job without a sign of life for this long is abandoned."
    )
    jobs_in_process: bool = Field(
        default=False,
        description="Run jobs in the worker process instead of a child process per job (uses more memory at rest).",
    )
