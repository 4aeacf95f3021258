"""The strategies' names and parameters for checking a job when it is submitted, without the strategies.

Importing :mod:`core.backtest.strategies` loads numpy, pandas and numba (the indicators and
kernels); a process that only submits a ``backtest``/``backtest-sweep``/``replay`` job needs just
the names and the parameters. So, like the job kinds and the CLI commands, the shipped strategies
are read from their source: the classes listed in ``STRATEGIES = {...}`` of
``core/backtest/strategies.py`` (and the modules it imports them from), each with its literal
``name`` and ``parameters = (Parameter(...), ...)``.

If the strategy registry is imported already (a page, a CLI command that loaded user strategies,
the jobs worker), it is the answer: it also holds the user strategies registered in this process.
If a shipped class cannot be read from its source (a computed name or parameters), the registry is
imported: slower, never wrong. ``tests/core/backtest/test_catalogue.py`` keeps the scan equal to
the registry.
"""

from __future__ import annotations

import ast
import sys
from functools import cache
from pathlib import Path
from typing import Any

from core.backtest.parameters import Parameter
from core.errors import PermanentError

REGISTRY_MODULE = "core.backtest.strategies"
_PACKAGE = Path(__file__).resolve().parent
_KINDS = {"int": int, "float": float}


class _NotStatic(PermanentError):
    """The source declares something the scan cannot read without running it."""


def strategy_parameters() -> dict[str, tuple[Parameter, ...]]:
    """Every strategy name this process knows and its parameters (see the module doc)."""
    registry = sys.modules.get(REGISTRY_MODULE)
    if registry is None:
        try:
            return dict(scanned_strategies())
        except _NotStatic:
            import importlib

            registry = importlib.import_module(REGISTRY_MODULE)
    return {name: tuple(cls.parameters) for name, cls in registry.STRATEGIES.items()}


def unknown_strategy_message(strategy: object, known: dict[str, tuple[Parameter, ...]]) -> str:
    """The message for a strategy that is not in ``known`` (as the job kinds have always said it)."""
    return f"unknown strategy {strategy!r} (choose from {', '.join(sorted(known))})"


@cache
def scanned_strategies() -> dict[str, tuple[Parameter, ...]]:
    """The shipped strategies read from the source; raises ``_NotStatic`` if one cannot be read so."""
    tree = _parse(_PACKAGE / "strategies.py")
    listed = _registered_class_names(tree)
    classes = _classes(tree)
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("core.backtest."):
            wanted = {alias.name for alias in node.names if alias.asname is None} & set(listed)
            if wanted:
                other = _classes(_parse(_PACKAGE / f"{node.module.rsplit('.', 1)[1]}.py"))
                classes.update({name: other[name] for name in wanted if name in other})
    found: dict[str, tuple[Parameter, ...]] = {}
    for class_name in listed:
        if class_name not in classes:
            raise _NotStatic(class_name)
        name, parameters = _read_class(classes[class_name])
        found[name] = parameters
    return found


def _parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _classes(tree: ast.Module) -> dict[str, ast.ClassDef]:
    return {node.name: node for node in tree.body if isinstance(node, ast.ClassDef)}


def _registered_class_names(tree: ast.Module) -> list[str]:
    """The class names in ``STRATEGIES = {strategy.name: strategy for strategy in (A, B, ...)}``."""
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        else:
            continue
        registry = isinstance(target, ast.Name) and target.id == "STRATEGIES"
        if registry and isinstance(value, ast.DictComp) and len(value.generators) == 1:
            source = value.generators[0].iter
            if isinstance(source, ast.Tuple | ast.List):
                names = [element.id for element in source.elts if isinstance(element, ast.Name)]
                if len(names) == len(source.elts):
                    return names
    raise _NotStatic("STRATEGIES")


def _read_class(node: ast.ClassDef) -> tuple[str, tuple[Parameter, ...]]:
    name: str | None = None
    parameters: tuple[Parameter, ...] = ()  # the base class's default
    for statement in node.body:
        if not (isinstance(statement, ast.Assign) and len(statement.targets) == 1):
            continue
        target = statement.targets[0]
        if not isinstance(target, ast.Name):
            continue
        if target.id == "name":
            if not (isinstance(statement.value, ast.Constant) and isinstance(statement.value.value, str)):
                raise _NotStatic(node.name)
            name = statement.value.value
        elif target.id == "parameters":
            parameters = _read_parameters(node.name, statement.value)
    if name is None:
        raise _NotStatic(node.name)
    return name, parameters


def _read_parameters(class_name: str, value: ast.expr) -> tuple[Parameter, ...]:
    if not isinstance(value, ast.Tuple):
        raise _NotStatic(class_name)
    parameters = []
    for call in value.elts:
        if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "Parameter"):
            raise _NotStatic(class_name)
        try:
            args: list[Any] = [
                _KINDS[arg.id] if isinstance(arg, ast.Name) else ast.literal_eval(arg) for arg in call.args
            ]
            kwargs: dict[str, Any] = {
                keyword.arg: _KINDS[keyword.value.id]
                if isinstance(keyword.value, ast.Name)
                else ast.literal_eval(keyword.value)
                for keyword in call.keywords
                if keyword.arg is not None
            }
            parameters.append(Parameter(*args, **kwargs))
        except (KeyError, ValueError, TypeError) as error:
            raise _NotStatic(class_name) from error
    return tuple(parameters)
