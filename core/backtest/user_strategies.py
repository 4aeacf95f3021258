"""User strategies: Python files in ``$KONSENS_HOME/strategies/`` or given with ``--strategy-file``.

A file is imported as a module of its own; every concrete ``Strategy`` subclass it defines (not the
ones it imports) becomes a strategy under its ``name``. A file that cannot be used is refused with a
message naming the file and line, and nothing of it is registered:

- a syntax error (the line Python reports),
- an exception while importing it, e.g. a missing package (the line in the file that raised),
- no strategy class, a class without ``name``/``title``, a name that is not ``[a-z0-9][a-z0-9._-]*``,
- a name already taken by a built-in strategy or another file (both places are named),
- parameters whose defaults are invalid (the class cannot be built with its defaults).

``load_catalog`` reads a directory (files in name order, ``_*.py`` skipped) plus extra files;
``register_catalog`` puts the good strategies into ``core.backtest.strategies.STRATEGIES`` (replacing
the user strategies of an earlier load, so an edited file takes effect) and returns the errors.
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import re
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

from core.backtest.strategies import BUILT_IN_STRATEGIES, STRATEGIES
from core.backtest.strategy import Parameter, Strategy, StrategyError, source_location

STRATEGY_DIRECTORY = "strategies"
MODULE_PREFIX = "konsens_user_strategy_"
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,59}$")


class StrategyFileError(StrategyError):
    """A strategy file that cannot be used; the message names the file and line."""

    def __init__(self, path: Path, message: str, line: int | None = None) -> None:
        where = f"{path}, line {line}" if line else str(path)
        super().__init__(f"{where}: {message}")
        self.path = path
        self.line = line
        self.reason = message


@dataclass(frozen=True)
class UserStrategy:
    """One strategy class loaded from a user file."""

    cls: type[Strategy]
    path: Path
    line: int | None

    @property
    def name(self) -> str:
        return self.cls.name

    @property
    def parameters(self) -> tuple[Parameter, ...]:
        return self.cls.parameters


@dataclass
class StrategyCatalog:
    """What a load found: the usable strategies by name and the files refused."""

    strategies: dict[str, UserStrategy] = field(default_factory=dict)
    errors: list[StrategyFileError] = field(default_factory=list)

    def error_for(self, path: Path) -> StrategyFileError | None:
        for error in self.errors:
            if error.path == path:
                return error
        return None


def strategy_directory(home: Path) -> Path:
    """``$KONSENS_HOME/strategies``."""
    return home / STRATEGY_DIRECTORY


def load_strategy_file(path: Path) -> list[UserStrategy]:
    """Import one file and return its strategy classes, or raise ``StrategyFileError``."""
    path = Path(path).resolve()
    try:
        source = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise StrategyFileError(path, "no such file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise StrategyFileError(path, f"cannot be read: {error}") from None
    try:
        compile(source, str(path), "exec")  # a syntax error is reported before anything runs
    except SyntaxError as error:
        raise StrategyFileError(path, f"syntax error: {error.msg}", error.lineno) from None
    module = _import(path)
    found: list[UserStrategy] = []
    for _, cls in inspect.getmembers(module, inspect.isclass):
        if not issubclass(cls, Strategy) or cls.__module__ != module.__name__ or inspect.isabstract(cls):
            continue
        _, line = source_location(cls)
        found.append(UserStrategy(cls, path, line))
    if not found:
        raise StrategyFileError(path, "defines no strategy (a concrete subclass of core.backtest.strategy.Strategy)")
    names: dict[str, UserStrategy] = {}
    for strategy in sorted(found, key=lambda item: item.line or 0):
        _check_class(strategy)
        if strategy.name in names:
            raise StrategyFileError(
                path,
                f"strategy name {strategy.name!r} is used twice (also line {names[strategy.name].line})",
                strategy.line,
            )
        names[strategy.name] = strategy
    return list(names.values())


def _import(path: Path) -> ModuleType:
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:10]
    module_name = f"{MODULE_PREFIX}{re.sub(r'[^0-9a-zA-Z_]', '_', path.stem)}_{digest}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:  # pragma: no cover - a .py path always has a loader
        raise StrategyFileError(path, "cannot be imported")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses and pickling look the module up by name
    try:
        spec.loader.exec_module(module)  # the trader's own file, run as a plugin is
    except Exception as error:
        sys.modules.pop(module_name, None)
        line = None
        for frame in reversed(traceback.extract_tb(error.__traceback__)):
            if Path(frame.filename) == path:
                line = frame.lineno
                break
        raise StrategyFileError(path, f"importing it raised {type(error).__name__}: {error}", line) from None
    return module


def _check_class(strategy: UserStrategy) -> None:
    cls, path, line = strategy.cls, strategy.path, strategy.line
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise StrategyFileError(
            path, f"{cls.__name__}.name must be a short lower-case name like 'my-cross', got {name!r}", line
        )
    if not isinstance(getattr(cls, "title", None), str):
        raise StrategyFileError(path, f"{cls.__name__} ({name}) needs a title (a short text)", line)
    parameters = getattr(cls, "parameters", ())
    if not isinstance(parameters, tuple) or not all(isinstance(item, Parameter) for item in parameters):
        raise StrategyFileError(path, f"{name}: parameters must be a tuple of Parameter(...)", line)
    for parameter in parameters:
        if not parameter.minimum <= parameter.default <= parameter.maximum:
            raise StrategyFileError(
                path,
                f"{name}: parameter {parameter.name} default {parameter.default} is outside "
                f"{parameter.minimum}..{parameter.maximum}",
                line,
            )
    try:
        cls()
    except Exception as error:
        raise StrategyFileError(
            path, f"{name} cannot be built with its defaults: {type(error).__name__}: {error}", line
        ) from None


def load_catalog(directory: Path | None, files: list[Path] | tuple[Path, ...] = ()) -> StrategyCatalog:
    """Load every ``*.py`` of ``directory`` (if it exists) and the extra ``files``."""
    catalog = StrategyCatalog()
    paths: list[Path] = []
    if directory is not None and directory.is_dir():
        paths.extend(sorted(path for path in directory.glob("*.py") if not path.name.startswith("_")))
    for extra in files:
        resolved = Path(extra).resolve()
        if resolved not in [path.resolve() for path in paths]:
            paths.append(resolved)
    for path in paths:
        try:
            loaded = _cached_load(path)
            for strategy in loaded:
                _check_unique(strategy, catalog)
        except StrategyFileError as error:
            catalog.errors.append(error)
            continue
        for strategy in loaded:
            catalog.strategies[strategy.name] = strategy
    return catalog


_file_cache: dict[Path, tuple[tuple[int, int], list[UserStrategy] | StrategyFileError]] = {}


def _cached_load(path: Path) -> list[UserStrategy]:
    """``load_strategy_file``, imported again only when the file changed (size or modification time)."""
    resolved = Path(path).resolve()
    try:
        status = resolved.stat()
    except OSError:
        return load_strategy_file(resolved)  # raises the clear "no such file" / "cannot be read"
    stamp = (status.st_mtime_ns, status.st_size)
    cached = _file_cache.get(resolved)
    if cached is None or cached[0] != stamp:
        try:
            outcome: list[UserStrategy] | StrategyFileError = load_strategy_file(resolved)
        except StrategyFileError as error:
            outcome = error
        _file_cache[resolved] = (stamp, outcome)
        cached = _file_cache[resolved]
    if isinstance(cached[1], StrategyFileError):
        raise cached[1]
    return cached[1]


def _check_unique(strategy: UserStrategy, catalog: StrategyCatalog) -> None:
    if strategy.name in BUILT_IN_STRATEGIES:
        raise StrategyFileError(strategy.path, f"strategy name {strategy.name!r} is a built-in strategy", strategy.line)
    other = catalog.strategies.get(strategy.name)
    if other is not None:
        raise StrategyFileError(
            strategy.path,
            f"strategy name {strategy.name!r} is already defined in {other.path}, line {other.line}",
            strategy.line,
        )


_registered: set[str] = set()


def register_catalog(catalog: StrategyCatalog) -> list[StrategyFileError]:
    """Make the catalog's strategies buildable by name (replacing an earlier load); return its errors."""
    for name in _registered - set(catalog.strategies):
        STRATEGIES.pop(name, None)
    _registered.clear()
    for name, strategy in catalog.strategies.items():
        STRATEGIES[name] = strategy.cls
        _registered.add(name)
    return list(catalog.errors)


def load_user_strategies(home: Path, files: list[Path] | tuple[Path, ...] = ()) -> StrategyCatalog:
    """Load ``$KONSENS_HOME/strategies`` and ``files`` and register what is usable."""
    catalog = load_catalog(strategy_directory(home), files)
    register_catalog(catalog)
    return catalog


def is_user_strategy(name: str) -> bool:
    """True if ``name`` was registered from a user file."""
    return name in _registered
