"""The committed chart bundle was built from the committed front-end sources (no npm needed to run)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from app.ui.components import lwchart

FRONTEND = Path(lwchart.__file__).resolve().parent / "frontend"


def _digest(paths: list[str]) -> str:
    """The same digest as ``frontend/record_hash.mjs``: path, NUL, content, NUL for each source."""
    digest = hashlib.sha256()
    for name in paths:
        digest.update(name.encode() + b"\0" + (FRONTEND / name).read_bytes() + b"\0")
    return digest.hexdigest()


def test_bundle_exists_and_matches_the_recorded_hash() -> None:
    record = json.loads((lwchart.STATIC / "build.json").read_text())
    bundle = lwchart.BUNDLE.read_bytes()
    assert len(bundle) > 50_000  # lightweight-charts itself is bundled in
    assert hashlib.sha256(bundle).hexdigest() == record["bundle"]


def test_bundle_was_built_from_the_current_sources() -> None:
    record = json.loads((lwchart.STATIC / "build.json").read_text())
    assert _digest(record["source_files"]) == record["sources"], (
        "frontend sources changed since the bundle was built: cd app/ui/components/lwchart/frontend && "
        "npm ci && npm run build"
    )


def test_bundle_uses_lightweight_charts_v5() -> None:
    lock = json.loads((FRONTEND / "package-lock.json").read_text())
    version = lock["packages"]["node_modules/lightweight-charts"]["version"]
    assert version.split(".")[0] == "5"
    assert b"export" in lwchart.BUNDLE.read_bytes()[-2000:]  # an ES module with the default export
