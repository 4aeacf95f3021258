"""Lazy command loading: ``konsens`` imports a command's module only when that command runs.

Every ``app/cli/<module>.py`` keeps its ``register(cli)`` function. Instead of importing every
module at start (and with them pandas, SQLAlchemy, the AI context, the tax engine...), the CLI
reads the modules' source with :mod:`ast` and finds, inside ``register``:

- ``@cli.command("name")`` / ``@cli.command()`` on a function (its docstring is the help line),
- ``cli.add_typer(group, name="name")`` (help from ``group = typer.Typer(help=...)`` in the module),
- ``@<shared group>.command(...)`` on a group of ``SHARED_GROUPS`` (e.g. ``konsens import ...``):
  the shared command is then declared by every module that adds to it.

``konsens --help`` lists those names and help lines without importing any command module;
running ``konsens NAME ...`` parses only the modules whose source mentions ``NAME`` (the others
cannot declare it), imports only the modules that declare it, lets them register on a fresh Typer
app and runs the real command. A module whose commands cannot be read this way (no
literal name) is imported whenever the command list is needed, so nothing is ever hidden.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import typer
from typer import _click as click  # typer 0.2x ships its own click; its commands are these classes
from typer.core import TyperCommand, TyperGroup

PACKAGE = "app.cli"
PACKAGE_DIR = Path(__file__).resolve().parent
_NOT_COMMAND_MODULES = {"_common", "_process", "__main__", "__init__", "lazy"}


@dataclass
class DeclaredCommand:
    """A top-level command name, the modules that declare it and its one-line help."""

    name: str
    modules: list[str] = field(default_factory=list)
    help: str = ""


@dataclass
class CommandScan:
    commands: dict[str, DeclaredCommand] = field(default_factory=dict)
    unreadable_modules: list[str] = field(default_factory=list)

    def declare(self, name: str, module: str, help_text: str) -> None:
        entry = self.commands.setdefault(name, DeclaredCommand(name))
        if module not in entry.modules:
            entry.modules.append(module)
        if help_text and not entry.help:
            entry.help = help_text


def _first_line(text: str | None) -> str:
    if not text:
        return ""
    return text.strip().splitlines()[0].strip()


def _string(node: ast.AST | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _keyword(call: ast.Call, name: str) -> ast.AST | None:
    return next((keyword.value for keyword in call.keywords if keyword.arg == name), None)


def _typer_helps(tree: ast.Module) -> dict[str, str]:
    """``{variable: help}`` for every ``variable = typer.Typer(help="...")`` anywhere in the module."""
    helps: dict[str, str] = {}
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Assign) and isinstance(node.value, ast.Call)):
            continue
        function = node.value.func
        if isinstance(function, ast.Attribute) and function.attr == "Typer":
            help_text = _first_line(_string(_keyword(node.value, "help")))
            for target in node.targets:
                if isinstance(target, ast.Name):
                    helps[target.id] = help_text
    return helps


def scan_module(source: str, module: str, scan: CommandScan, shared_groups: dict[str, str]) -> None:
    """Add the commands that ``module``'s ``register(cli)`` declares to ``scan``.

    ``shared_groups`` maps a shared group's variable name (as imported from ``_common``) to its
    command name, e.g. ``{"import_group": "import"}``.
    """
    tree = ast.parse(source)
    register = next(
        (node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == "register"),
        None,
    )
    if register is None:
        return
    cli_name = register.args.args[0].arg if register.args.args else "cli"
    helps = _typer_helps(tree)
    found = False
    readable = True
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for decorator in node.decorator_list:
                if not (isinstance(decorator, ast.Call) and isinstance(decorator.func, ast.Attribute)):
                    continue
                if decorator.func.attr != "command" or not isinstance(decorator.func.value, ast.Name):
                    continue
                receiver = decorator.func.value.id
                if receiver == cli_name:
                    name_node = decorator.args[0] if decorator.args else _keyword(decorator, "name")
                    if name_node is None:
                        name: str | None = node.name.replace("_", "-")
                    else:
                        name = _string(name_node)
                    if name is None:
                        readable = False
                        continue
                    scan.declare(name, module, _first_line(ast.get_docstring(node)))
                    found = True
                elif receiver in shared_groups:
                    scan.declare(shared_groups[receiver], module, "")
                    found = True
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "add_typer":
            if not (isinstance(node.func.value, ast.Name) and node.func.value.id == cli_name):
                continue
            name = _string(_keyword(node, "name"))
            if name is None:
                readable = False
                continue
            group = node.args[0] if node.args else None
            help_text = _first_line(_string(_keyword(node, "help")))
            if not help_text and isinstance(group, ast.Name):
                help_text = helps.get(group.id, "")
            scan.declare(name, module, help_text)
            found = True
    if not readable or not found:
        scan.unreadable_modules.append(module)


def command_modules() -> list[str]:
    """The command modules of the package (``app.cli.<name>``), in name order."""
    return sorted(
        f"{PACKAGE}.{info.name}"
        for info in pkgutil.iter_modules([str(PACKAGE_DIR)])
        if info.name not in _NOT_COMMAND_MODULES
    )


def _source(module: str) -> str:
    return (PACKAGE_DIR / f"{module.rsplit('.', 1)[1]}.py").read_text(encoding="utf-8")


def scan_commands(only_mentioning: str | None = None) -> CommandScan:
    """Read every command module's source and return the commands it declares.

    With ``only_mentioning``, parse only the modules whose source holds a form that could declare
    that command: the name as a string literal (``"name"`` or ``'name'``), a function of that name
    (``def name_with_underscores(``) or, for a shared group, the group's variable (``name_group``).
    A module without any of them cannot declare it, so running one command parses a module or two
    instead of every module that merely mentions the word.
    """
    from app.cli._common import SHARED_GROUPS

    shared = {f"{name}_group": name for name in SHARED_GROUPS}
    scan = CommandScan()
    needles: set[str] = set()
    if only_mentioning is not None:
        function = only_mentioning.replace("-", "_")
        needles = {f'"{only_mentioning}"', f"'{only_mentioning}'", f"def {function}(", f"def {function} ("}
        needles |= {variable for variable, name in shared.items() if name == only_mentioning}
    for module in command_modules():
        source = _source(module)
        if needles and not any(needle in source for needle in needles):
            continue
        scan_module(source, module, scan, shared)
    for name, group in SHARED_GROUPS.items():
        if name in scan.commands:
            scan.commands[name].help = _first_line(group.info.help if isinstance(group.info.help, str) else "")
    return scan


def build_real_app(modules: list[str]) -> typer.Typer:
    """Import ``modules``, let each register on a fresh Typer app, mount the shared groups; return the app."""
    from app.cli._common import SHARED_GROUPS

    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    # A callback keeps the app a group even with a single command (else Typer makes it the command).
    app.callback()(_group_callback)
    for module_name in modules:
        module = importlib.import_module(module_name)
        register = getattr(module, "register", None)
        if register is not None:
            register(app)
    for name, group in SHARED_GROUPS.items():
        if group.registered_commands or group.registered_groups:
            app.add_typer(group, name=name)
    return app


def _group_callback() -> None:
    """Konsens commands."""


class _Placeholder(TyperCommand):
    """What ``--help`` lists for a command that is not imported yet."""

    def __init__(self, name: str, help_text: str):
        super().__init__(name, help=help_text, short_help=help_text)


class LazyGroup(TyperGroup):
    """The root ``konsens`` group: lists scanned commands, imports a command's modules on use."""

    _scan: CommandScan | None = None
    _loaded: dict[str, click.Command]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._loaded = {}

    def scan(self) -> CommandScan:
        if self._scan is None:
            self._scan = scan_commands()
        return self._scan

    def _declared(self, cmd_name: str) -> DeclaredCommand | None:
        """The modules declaring ``cmd_name``: from the modules that mention it, else the full scan."""
        if self._scan is None:
            declared = scan_commands(only_mentioning=cmd_name).commands.get(cmd_name)
            if declared is not None:
                return declared
        return self.scan().commands.get(cmd_name)

    def _eager(self) -> dict[str, click.Command]:
        """Commands of modules the scan could not read (imported to be listed)."""
        modules = self.scan().unreadable_modules
        if not modules:
            return {}
        group = typer.main.get_command(build_real_app(modules))
        assert isinstance(group, TyperGroup)
        return dict(group.commands)

    def list_commands(self, ctx: click.Context) -> list[str]:
        names = set(self.commands) | set(self.scan().commands) | set(self._eager())
        return sorted(names)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        if cmd_name in self._loaded:
            return self._loaded[cmd_name]
        declared = self.scan().commands.get(cmd_name)
        if declared is not None:
            return _Placeholder(cmd_name, declared.help)
        return self._eager().get(cmd_name)

    def load(self, cmd_name: str) -> click.Command | None:
        """Import the modules that declare ``cmd_name`` and return its real command."""
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        if cmd_name in self._loaded:
            return self._loaded[cmd_name]
        declared = self._declared(cmd_name)
        modules = declared.modules if declared is not None else self.scan().unreadable_modules
        if not modules:
            return None
        group = typer.main.get_command(build_real_app(modules))
        assert isinstance(group, TyperGroup)
        command = group.commands.get(cmd_name)
        if command is not None:
            self._loaded[cmd_name] = command
        return command

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        cmd_name = str(args[0])
        command = self.load(cmd_name)
        if command is None:
            if self._declared(cmd_name) is not None:
                ctx.fail(f"Command {cmd_name!r} is declared but was not registered by its module.")
            return super().resolve_command(ctx, args)
        return cmd_name, command, args[1:]
