"""Sections of the Settings page: each module defines ``TITLE``, ``ORDER`` and ``render(database)``.

The Settings page shows one tab per module, in ``ORDER``; an area adds its settings by adding a
module here.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType


def settings_sections() -> list[ModuleType]:
    """Return the section modules, sorted by ``ORDER``."""
    modules = [importlib.import_module(info.name) for info in pkgutil.iter_modules(__path__, prefix=__name__ + ".")]
    modules = [module for module in modules if hasattr(module, "render") and hasattr(module, "TITLE")]
    return sorted(modules, key=lambda module: (getattr(module, "ORDER", 100), module.TITLE))
