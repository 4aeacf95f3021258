"""Generate the manual's reference pages from the code itself (a mkdocs hook).

``mkdocs build`` calls :func:`on_files`, which adds three generated pages, so they are true for
whatever commands, settings and tables the code has when the manual is built:

- ``reference/cli.md``: every ``konsens`` command and option, walked from the Typer application;
- ``reference/configuration.md``: every setting, from the settings classes (every subclass of
  ``core.config.KonsensSettingsBase`` in a module that defines one) and the ``KONSENS_*`` names
  the code reads from the environment directly;
- ``reference/database.md``: every table, column, key and relation, from the SQLAlchemy models,
  with an entity-relationship diagram (Mermaid).

The same functions are used by ``tests/docs/test_manual.py`` to check that nothing is missing.
"""

from __future__ import annotations

import importlib
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

ENV_READ = re.compile(r"""(?:environ\.get|environ\[|getenv)\(?\s*["'](KONSENS_[A-Z0-9_]+)["']""")
GENERATED_PAGES = ("reference/cli.md", "reference/configuration.md", "reference/database.md")


# ---------------------------------------------------------------------------------------------- CLI


@dataclass(frozen=True)
class CommandDoc:
    path: str  # "konsens tax report"
    help: str
    usage: str
    parameters: tuple[tuple[str, str, str], ...]  # (names, help, default)
    is_group: bool


def cli_commands() -> list[CommandDoc]:
    """Return every command and group of the ``konsens`` CLI, depth first, in menu order."""
    import typer.main

    from app.cli import cli

    root = typer.main.get_command(cli)
    found: list[CommandDoc] = []

    # Typer vendors its own copy of click, so commands are recognised by what they do, not their class.
    def visit(command: Any, path: list[str], parent: Any) -> None:
        context = command.context_class(command, info_name=path[-1], parent=parent)
        parameters = []
        for parameter in command.get_params(context):
            if parameter.name == "help":
                continue
            names = ", ".join(parameter.opts + parameter.secondary_opts)
            if parameter.param_type_name == "argument":
                names = (parameter.metavar or parameter.name or "").upper()
            help_text = getattr(parameter, "help", None) or ""
            default = parameter.default
            shown = "" if default in (None, False, (), []) or callable(default) else str(default)
            parameters.append((names, " ".join(help_text.split()), shown))
        is_group = hasattr(command, "list_commands")
        found.append(
            CommandDoc(
                path=" ".join(path),
                help=" ".join((command.help or command.short_help or "").split()),
                usage=" ".join(command.collect_usage_pieces(context)),
                parameters=tuple(parameters),
                is_group=is_group,
            )
        )
        if is_group:
            for name in command.list_commands(context):
                # The root group is lazy (app/cli/lazy.py): load the real command to see its options.
                sub = command.load(name) if hasattr(command, "load") else command.get_command(context, name)
                if sub is not None and not sub.hidden:
                    visit(sub, [*path, name], context)

    visit(root, ["konsens"], None)
    return found


def cli_markdown() -> str:
    """Return the CLI reference page."""
    lines = [
        "# Command-line reference",
        "",
        "Generated from the `konsens` command line when the manual is built (`docs/hooks/reference.py`);",
        "`konsens COMMAND --help` prints the same.",
        "",
    ]
    for command in cli_commands():
        depth = min(command.path.count(" ") + 1, 4)
        lines += [f"{'#' * (depth + 1)} `{command.path}`", ""]
        if command.help:
            lines += [_escape(command.help), ""]
        lines += ["```text", f"{command.path} {command.usage}".rstrip(), "```", ""]
        if command.parameters:
            lines += ["| argument or option | meaning | default |", "| --- | --- | --- |"]
            for names, help_text, default in command.parameters:
                lines.append(f"| `{names}` | {_cell(help_text)} | {_cell(default)} |")
            lines.append("")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class SettingDoc:
    env_name: str
    section: str  # the class, e.g. "core.risk.settings.RiskLimits"
    toml: str  # how to write it in config.toml, e.g. "[risk] daily_loss_limit_pct"
    type: str
    default: str
    description: str


def _settings_modules() -> list[str]:
    names = []
    for path in sorted((ROOT / "core").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        if "KonsensSettingsBase" in text and ("(KonsensSettingsBase)" in text or "class Settings" in text):
            names.append(".".join(path.relative_to(ROOT).with_suffix("").parts))
    return names


def settings_classes() -> list[type[Any]]:
    """Return every concrete settings class (subclasses of ``KonsensSettingsBase``), by module and name."""
    from core.config import KonsensSettingsBase

    for module in _settings_modules():
        importlib.import_module(module)
    found: dict[str, type[Any]] = {}
    pending = list(KonsensSettingsBase.__subclasses__())
    while pending:
        cls = pending.pop()
        found[f"{cls.__module__}.{cls.__qualname__}"] = cls
        pending.extend(cls.__subclasses__())
    return [found[key] for key in sorted(found)]


def _type_name(annotation: Any) -> str:
    text = getattr(annotation, "__name__", None) or str(annotation)
    return text.replace("typing.", "").replace("pydantic.types.", "").replace("decimal.", "")


def settings() -> list[SettingDoc]:
    """Return every setting with its environment name, TOML key, type, default and description."""
    from pydantic import BaseModel
    from pydantic_core import PydanticUndefined

    rows: dict[str, SettingDoc] = {}
    for cls in settings_classes():
        prefix = str(cls.model_config.get("env_prefix", "") or "")
        table = getattr(cls, "toml_table", None)
        for name, field in cls.model_fields.items():
            annotation = field.annotation
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                continue  # a nested section: its own class documents its fields
            alias = field.validation_alias if isinstance(field.validation_alias, str) else field.alias
            env_name = (alias or f"{prefix}{name}").upper()
            if field.default_factory is not None:
                default = "(computed)"
            elif field.default is PydanticUndefined or field.default is None:
                default = ""
            else:
                default = str(getattr(field.default, "value", field.default))
            if "SecretStr" in str(annotation):
                default = default and "(set)"
            rows.setdefault(
                env_name,
                SettingDoc(
                    env_name=env_name,
                    section=f"{cls.__module__}.{cls.__qualname__}",
                    toml=f"[{table}] {name}" if table else name,
                    type=_type_name(annotation),
                    default=default,
                    description=" ".join((field.description or "").split()),
                ),
            )
    for path in sorted(p for folder in ("core", "app", "workers") for p in (ROOT / folder).rglob("*.py")):
        for env_name in ENV_READ.findall(path.read_text(encoding="utf-8")):
            rows.setdefault(
                env_name,
                SettingDoc(env_name, str(path.relative_to(ROOT)), "(environment only)", "str", "", ""),
            )
    return [rows[key] for key in sorted(rows)]


def configuration_markdown() -> str:
    """Return the configuration reference page."""
    lines = [
        "# Configuration reference",
        "",
        "Generated from the settings classes when the manual is built (`docs/hooks/reference.py`).",
        "Each setting is read, highest first, from: the environment (`KONSENS_*`), a `.env` file in the",
        "working directory, the TOML file (`$KONSENS_HOME/config.toml` or the path in `KONSENS_CONFIG`;",
        "the key is shown in the TOML column, in its `[table]` where it has one), the default.",
        "Values changed in the Settings page are stored in the database and override these for the",
        "settings that page edits (risk limits, alerts, trading mode, AI weights...).",
        "",
    ]
    by_section: dict[str, list[SettingDoc]] = {}
    for row in settings():
        by_section.setdefault(row.section, []).append(row)
    for section in sorted(by_section):
        lines += [f"## `{section}`", ""]
        lines += ["| environment | TOML | type | default | meaning |", "| --- | --- | --- | --- | --- |"]
        for row in by_section[section]:
            cells = [f"`{row.env_name}`", f"`{row.toml}`", _cell(row.type), _cell(row.default), _cell(row.description)]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------- database


def tables() -> list[Any]:
    """Return every table of the models, by name."""
    from core.db.base import Base
    from core.db.registry import import_all_models

    import_all_models()
    return sorted(Base.metadata.tables.values(), key=lambda table: table.name)


def database_markdown() -> str:
    """Return the database schema page: a diagram, then every table's columns, keys and indexes."""
    all_tables = tables()
    lines = [
        "# Database schema",
        "",
        "Generated from the SQLAlchemy models when the manual is built (`docs/hooks/reference.py`).",
        "Migrations (`core/db/migrations/versions/`) create exactly this schema; `konsens db status`",
        "shows which are applied. Money columns are exact decimals (`Numeric(28,10)`), quantities",
        "`Numeric(38,18)`, timestamps aware UTC.",
        "",
        "## Relations",
        "",
        "```mermaid",
        "erDiagram",
    ]
    for table in all_tables:
        for foreign_key in sorted(table.foreign_keys, key=lambda fk: (fk.parent.name, fk.column.table.name)):
            lines.append(f'    {foreign_key.column.table.name} ||--o{{ {table.name} : "{foreign_key.parent.name}"')
    lines += ["```", ""]
    for table in all_tables:
        lines += [f"## `{table.name}`", ""]
        if table.comment:
            lines += [_escape(table.comment), ""]
        lines += ["| column | type | null | key | meaning |", "| --- | --- | --- | --- | --- |"]
        for column in table.columns:
            keys = []
            if column.primary_key:
                keys.append("PK")
            keys += [f"FK → `{fk.target_fullname}`" for fk in column.foreign_keys]
            if column.unique:
                keys.append("unique")
            try:
                type_name = str(column.type)
            except Exception:
                type_name = type(column.type).__name__
            lines.append(
                f"| `{column.name}` | {_cell(type_name)} | {'yes' if column.nullable else 'no'} | "
                f"{_cell(', '.join(keys))} | {_cell(column.doc or column.comment or '')} |"
            )
        constraints = [
            f"unique ({', '.join(c.name for c in constraint.columns)})"
            for constraint in table.constraints
            if constraint.__class__.__name__ == "UniqueConstraint"
        ]
        indexes = [
            f"{'unique ' if index.unique else ''}index `{index.name}` ({', '.join(c.name for c in index.columns)})"
            for index in sorted(table.indexes, key=lambda i: str(i.name))
        ]
        if constraints or indexes:
            lines += ["", "Constraints and indexes: " + "; ".join([*constraints, *indexes]) + "."]
        lines.append("")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------- mkdocs


def _escape(text: str) -> str:
    return text.replace("<", "&lt;").replace(">", "&gt;")


def _cell(text: str) -> str:
    return _escape(text).replace("|", "\\|").replace("\n", " ")


def generated_pages() -> dict[str, str]:
    """Return ``{page path: markdown}`` for the generated reference pages."""
    return {
        "reference/cli.md": cli_markdown(),
        "reference/configuration.md": configuration_markdown(),
        "reference/database.md": database_markdown(),
    }


def on_files(files: Any, config: Any) -> Any:
    """mkdocs hook: add the generated reference pages to the site."""
    import warnings

    from mkdocs.structure.files import File

    with warnings.catch_warnings():  # third-party deprecation notices while importing the code
        warnings.simplefilter("ignore")
        pages = generated_pages()
    for path, content in pages.items():
        files.append(File.generated(config, path, content=content))
    return files
