"""The Konsens version recorded with every AI opinion (its decision record)."""

from __future__ import annotations

from functools import cache
from importlib import metadata


@cache
def konsens_version() -> str:
    """Return the installed Konsens version (``unknown`` when run from a plain source tree)."""
    try:
        return metadata.version("konsens")
    except metadata.PackageNotFoundError:
        return "unknown"
