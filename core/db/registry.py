"""Import every ``models`` module under ``core`` so ``Base.metadata`` knows all tables.

Each area keeps its tables in its own ``core/<area>/models.py`` (or a ``models`` package); this
walk finds them, so adding an area never means editing a central list.
"""

from __future__ import annotations

import importlib
import pkgutil

import core


def import_all_models() -> list[str]:
    """Import all ``core.*.models`` modules and return their names."""
    imported: list[str] = []
    for module in pkgutil.walk_packages(core.__path__, prefix="core."):
        if module.name.endswith(".models") or ".models." in module.name:
            importlib.import_module(module.name)
            imported.append(module.name)
    return imported
