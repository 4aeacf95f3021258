"""The installed project's version for ``konsens --version`` (semantic versioning, from the release tag).

The option itself is part of the one CLI callback in ``app/cli/__init__.py``.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version


def project_version() -> str:
    """Return the installed ``konsens`` distribution's version, or the one in ``pyproject.toml`` from a source tree."""
    try:
        return version("konsens")
    except PackageNotFoundError:
        import tomllib
        from pathlib import Path

        pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
        return str(tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["version"])
