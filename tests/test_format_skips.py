"""``# fmt: skip`` only where a table would lose its shape: a literal whose rows are one line each.

Everything else is left to ``ruff format``, so the code has one layout. A statement marked
``# fmt: skip`` must contain a list, tuple, set or dict of at least three one-line rows (tuples,
lists, dicts or calls), e.g. a state table or a fixture of rows.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("app", "core", "workers", "pages", "tests", "bench", "scripts", "docs")
MARK = re.compile(r"#\s*fmt:\s*(skip|off)\b")


def _is_table(node: ast.AST) -> bool:
    for sub in ast.walk(node):
        if isinstance(sub, ast.List | ast.Tuple | ast.Set):
            elements: list[ast.expr | None] = list(sub.elts)
        elif isinstance(sub, ast.Dict):
            elements = list(sub.values)
        else:
            continue
        rows = [item for item in elements if isinstance(item, ast.Tuple | ast.List | ast.Dict | ast.Call)]
        if len(rows) >= 3 and len(rows) == len(elements) and all(row.lineno == row.end_lineno for row in rows):
            return True
    return False


def _marked_statements(path: Path) -> list[tuple[int, ast.stmt | None]]:
    text = path.read_text(encoding="utf-8")
    marked = [number for number, line in enumerate(text.splitlines(), start=1) if MARK.search(line)]
    if not marked:
        return []
    statements = [node for node in ast.walk(ast.parse(text)) if isinstance(node, ast.stmt)]
    found: list[tuple[int, ast.stmt | None]] = []
    for number in marked:
        owners = [node for node in statements if node.end_lineno == number]
        owners.sort(key=lambda node: (node.end_lineno or 0) - node.lineno)
        found.append((number, owners[0] if owners else None))
    return found


def test_fmt_skip_marks_only_tables() -> None:
    offenders = []
    for folder in FOLDERS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path.name == Path(__file__).name:
                continue
            for number, statement in _marked_statements(path):
                if statement is None or not _is_table(statement):
                    offenders.append(f"{path.relative_to(ROOT)}:{number}")
    assert not offenders, "`# fmt: skip` on a statement that is not a table: " + ", ".join(offenders)
