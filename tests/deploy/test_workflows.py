"""The GitHub workflows and Dependabot configuration (they cannot run here, so their YAML is checked)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"


def load(name: str) -> dict[Any, Any]:
    data = yaml.safe_load((WORKFLOWS / name).read_text())
    # YAML 1.1 reads the key `on` as True.
    data["on"] = data.pop(True, data.get("on"))
    return data


def run_lines(job: dict[str, Any]) -> str:
    return "\n".join(step.get("run", "") for step in job["steps"])


def uses(job: dict[str, Any]) -> list[str]:
    return [step["uses"].split("@")[0] for step in job["steps"] if "uses" in step]


def test_every_action_is_pinned_to_a_version() -> None:
    for path in WORKFLOWS.glob("*.yml"):
        for job in yaml.safe_load(path.read_text())["jobs"].values():
            for step in job["steps"]:
                if "uses" in step:
                    assert "@" in step["uses"], f"{path.name}: {step['uses']} has no version"


def test_ci_runs_lint_format_types_tests_with_postgres_chromium_coverage_and_the_manual() -> None:
    ci = load("ci.yml")
    assert {"push", "pull_request"} <= set(ci["on"])
    jobs = ci["jobs"]
    lint = run_lines(jobs["lint"])
    for command in ("ruff check .", "ruff format --check .", "mypy"):
        assert command in lint
    test = jobs["test"]
    assert "postgres" in test["services"]
    assert test["services"]["postgres"]["ports"] == ["5432:5432"]
    assert "chromium" in run_lines(test) and "poppler-utils" in run_lines(test)
    assert "python -m pytest --cov" in run_lines(test)
    assert "--require-hashes -r requirements.txt" in run_lines(test)
    assert "mkdocs build --strict" in run_lines(jobs["docs"])


def test_coverage_threshold_is_set_where_pytest_cov_reads_it() -> None:
    import tomllib

    coverage = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["coverage"]
    assert coverage["report"]["fail_under"] >= 70
    assert set(coverage["run"]["source"]) == {"app", "core", "workers"}


def test_security_scans_locks_code_and_image_on_schedule_and_pull_requests() -> None:
    security = load("security.yml")
    assert "schedule" in security["on"] and "pull_request" in security["on"]
    jobs = security["jobs"]
    audit = run_lines(jobs["pip-audit"])
    assert "-r requirements-runtime.txt" in audit and "-r requirements.txt" in audit
    assert "bandit -c pyproject.toml" in run_lines(jobs["bandit"])
    assert "aquasecurity/trivy-action" in uses(jobs["trivy"])
    assert "docker/build-push-action" in uses(jobs["trivy"])


def test_release_on_a_version_tag_checks_it_pushes_multi_arch_to_ghcr_and_publishes_the_changelog() -> None:
    release = load("release.yml")
    assert release["on"] == {"push": {"tags": ["v*"]}}
    job = release["jobs"]["release"]
    script = run_lines(job)
    assert "pyproject.toml" in script and "CHANGELOG.md" in script
    assert "gh release create" in script and "--notes-file release-notes.md" in script
    build = next(step for step in job["steps"] if step.get("uses", "").startswith("docker/build-push-action"))
    assert build["with"]["platforms"] == "linux/amd64,linux/arm64"
    assert build["with"]["push"] is True
    assert "VERSION=${{ steps.version.outputs.version }}" in build["with"]["build-args"]
    login = next(step for step in job["steps"] if step.get("uses", "").startswith("docker/login-action"))
    assert login["with"]["registry"] == "ghcr.io"


def test_changelog_keeps_a_changelog_form_with_the_current_version() -> None:
    import re
    import tomllib

    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert "## [Unreleased]" in changelog
    assert re.search(rf"^## \[{re.escape(version)}\] - \d{{4}}-\d{{2}}-\d{{2}}$", changelog, re.M)
    assert "keepachangelog.com" in changelog


def test_dependabot_watches_pip_actions_and_docker() -> None:
    dependabot = yaml.safe_load((ROOT / ".github" / "dependabot.yml").read_text())
    assert dependabot["version"] == 2
    assert {update["package-ecosystem"] for update in dependabot["updates"]} == {"pip", "github-actions", "docker"}
