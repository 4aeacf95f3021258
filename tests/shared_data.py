"""The real-world data files shared by the engineers, outside the repository (``../shared/data``).

Tests find them only through :func:`shared_data_path` (and the ``shared_data`` fixture built on it):
``KONSENS_SHARED_DATA`` says where they are (default ``../shared/data`` beside the repository).
When a file is missing the test is skipped on a developer machine, but FAILS under ``CI=true``:
CI must say where the data is, or the tests that need it would silently not run.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED_DATA_ENV = "KONSENS_SHARED_DATA"
DEFAULT_SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
# Read once at import: the tests' isolation fixture removes KONSENS_* variables from each test.
_CONFIGURED = os.environ.get(SHARED_DATA_ENV)


def shared_data_root() -> Path:
    """Return the configured shared data folder (it may not exist)."""
    return Path(_CONFIGURED).expanduser() if _CONFIGURED else DEFAULT_SHARED_DATA


def in_ci() -> bool:
    """Return True when running under CI (``CI`` set to anything but empty/0/false)."""
    return os.environ.get("CI", "").strip().lower() not in {"", "0", "false", "no"}


def shared_data_path(*parts: str) -> Path:
    """Return a path under the shared data folder; skip the test if it is missing, fail under CI."""
    path = shared_data_root().joinpath(*parts)
    if not path.exists():
        message = f"shared data {path} is missing (set {SHARED_DATA_ENV} to the folder holding it)"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    return path


class SharedFolder:
    """A folder of the shared data; ``folder / "name.csv"`` is checked like :func:`shared_data_path`."""

    def __init__(self, *parts: str) -> None:
        self.parts = parts

    def __truediv__(self, name: str) -> Path:
        return shared_data_path(*self.parts, name)
