"""The dependency locks agree with ``pyproject.toml`` (refresh both with ``make lock``).

``requirements.txt`` (runtime + test + dev + docs) and ``requirements-runtime.txt`` (runtime only,
for the image) are compiled from pyproject.toml by pip-tools with hashes. These checks run offline:
every declared dependency is pinned in the right lock at a version its range allows, every pin
carries hashes, the two locks agree on shared versions, and the runtime lock holds no test, lint or
browser-automation tool.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\;]+)")
NOT_RUNTIME = {
    "pytest",
    "pytest-xdist",
    "pytest-timeout",
    "pytest-httpserver",
    "pytest-cov",
    "hypothesis",
    "coverage",
    "mypy",
    "ruff",
    "bandit",
    "pip-audit",
    "pip-tools",
    "pre-commit",
    "playwright",
    "selenium",
    "kubernetes-validate",
    "mkdocs",
    "mkdocs-material",
}


def parse_lock(path: Path) -> dict[str, tuple[str, int]]:
    """Return ``{name: (version, number of hashes)}`` of a pip-compile lock; refuse any other line."""
    pins: dict[str, tuple[str, int]] = {}
    current: str | None = None
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        match = PIN.match(line)
        if match:
            current = canonicalize_name(match.group(1))
            assert current not in pins, f"{path.name}:{number}: {current} pinned twice"
            pins[current] = (match.group(2), 0)
        elif stripped.startswith("--hash=sha256:") and current is not None:
            version, hashes = pins[current]
            pins[current] = (version, hashes + 1)
        else:
            raise AssertionError(f"{path.name}:{number}: {stripped!r} is not pip-compile output; run `make lock`")
    return pins


@pytest.fixture(scope="module")
def full_lock() -> dict[str, tuple[str, int]]:
    return parse_lock(ROOT / "requirements.txt")


@pytest.fixture(scope="module")
def runtime_lock() -> dict[str, tuple[str, int]]:
    return parse_lock(ROOT / "requirements-runtime.txt")


def declared(*groups: str) -> list[Requirement]:
    requirements = [Requirement(text) for text in PYPROJECT["project"]["dependencies"]]
    for group in groups:
        requirements += [Requirement(text) for text in PYPROJECT["project"]["optional-dependencies"][group]]
    return requirements


def test_every_runtime_dependency_is_pinned_in_both_locks_within_its_range(
    full_lock: dict[str, tuple[str, int]], runtime_lock: dict[str, tuple[str, int]]
) -> None:
    for requirement in declared():
        name = canonicalize_name(requirement.name)
        for lock_name, lock in (("requirements-runtime.txt", runtime_lock), ("requirements.txt", full_lock)):
            assert name in lock, f"{name} is declared in pyproject.toml but not in {lock_name}: run `make lock`"
            assert requirement.specifier.contains(lock[name][0], prereleases=True), (
                f"{lock_name} pins {name}=={lock[name][0]} outside pyproject's {requirement.specifier}: run `make lock`"
            )


def test_every_optional_group_is_pinned_in_the_full_lock(full_lock: dict[str, tuple[str, int]]) -> None:
    assert set(PYPROJECT["project"]["optional-dependencies"]) == {"test", "dev", "docs"}
    for requirement in declared("test", "dev", "docs"):
        name = canonicalize_name(requirement.name)
        assert name in full_lock, f"{name} is declared in pyproject.toml but not in requirements.txt: run `make lock`"
        assert requirement.specifier.contains(full_lock[name][0], prereleases=True), name


def test_every_pin_has_hashes(full_lock: dict[str, tuple[str, int]], runtime_lock: dict[str, tuple[str, int]]) -> None:
    for lock in (full_lock, runtime_lock):
        assert [name for name, (_version, hashes) in lock.items() if hashes == 0] == []


def test_both_locks_agree_on_every_shared_version(
    full_lock: dict[str, tuple[str, int]], runtime_lock: dict[str, tuple[str, int]]
) -> None:
    assert set(runtime_lock) <= set(full_lock)
    assert {name: runtime_lock[name][0] for name in runtime_lock} == {name: full_lock[name][0] for name in runtime_lock}


def test_runtime_set_holds_no_test_lint_or_browser_tool(runtime_lock: dict[str, tuple[str, int]]) -> None:
    assert set(runtime_lock) & NOT_RUNTIME == set()
    runtime_names = {canonicalize_name(requirement.name) for requirement in declared()}
    assert runtime_names & NOT_RUNTIME == set()


def test_locks_were_compiled_by_the_documented_command() -> None:
    for name in ("requirements.txt", "requirements-runtime.txt"):
        head = (ROOT / name).read_text().splitlines()[:6]
        assert "#    make lock" in head, f"{name} was not written by `make lock` (scripts/lock.sh)"
    script = (ROOT / "scripts" / "lock.sh").read_text()
    assert "--generate-hashes" in script
    assert "--extra test --extra dev --extra docs --output-file requirements.txt pyproject.toml" in script
    assert "--constraint requirements.txt --output-file requirements-runtime.txt pyproject.toml" in script


def test_a_hand_added_pin_without_hashes_is_refused(tmp_path: Path) -> None:
    lock = tmp_path / "requirements.txt"
    lock.write_text("alembic==1.20.1 \\\n    --hash=sha256:" + "0" * 64 + "\nnewlib==1.0\n")
    pins = parse_lock(lock)
    assert pins["newlib"] == ("1.0", 0)
    lock.write_text("-e .\n")
    with pytest.raises(AssertionError, match="not pip-compile output"):
        parse_lock(lock)


def test_every_install_of_the_lock_first_installs_the_hashed_pip() -> None:
    """A fresh venv's pip (23.2 on Python 3.12.1) refuses pins of the lock: each installer takes the pinned pip."""
    (pip_pin,) = parse_lock(ROOT / "requirements-pip.txt").items()
    name, (version, hashes) = pip_pin
    assert name == "pip" and hashes >= 1 and int(version.split(".")[0]) >= 24
    for path, lock_install, pip_install in (
        ("README.md", "pip install --require-hashes -r requirements.txt", "-r requirements-pip.txt"),
        ("docs/getting-started.md", "pip install --require-hashes -r requirements.txt", "-r requirements-pip.txt"),
        ("Makefile", "pip install --require-hashes -r requirements.txt", "-r requirements-pip.txt"),
        (".ci/run", "pip install --quiet --require-hashes -r requirements.txt", "-r requirements-pip.txt"),
        ("Dockerfile", "pip install --require-hashes -r /tmp/requirements.txt", "-r /tmp/requirements-pip.txt"),
    ):
        text = (ROOT / path).read_text()
        assert "--upgrade pip" not in text, f"{path}: an unpinned pip upgrade"
        at = text.index(lock_install)  # the first install of the lock comes after the pinned pip's
        assert pip_install in text[:at], f"{path}: the lock is installed before the hashed pip"
