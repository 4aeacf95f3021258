"""The Dockerfile, .dockerignore and the compose file (no container engine runs here, so the files are read)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

from workers.registry import worker_modules

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "Dockerfile").read_text()
PROJECT_VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def stages() -> dict[str, str]:
    """Return ``{stage name: its instructions}`` of the multi-stage Dockerfile."""
    parts = re.split(r"^FROM \S+ AS (\w+)\n", DOCKERFILE, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def test_image_is_multi_stage_with_the_runtime_stage_last() -> None:
    assert list(stages()) == ["build", "dev", "runtime"]


def test_build_stage_installs_only_the_hashed_runtime_lock_and_the_project_wheel() -> None:
    build = stages()["build"]
    assert "--require-hashes" in build
    assert "-r requirements-runtime.txt" in build
    assert "requirements.txt" not in build.replace("requirements-runtime.txt", "")
    assert "--no-index --no-deps" in build


def test_runtime_stage_is_slim_non_root_with_healthcheck_and_oci_labels() -> None:
    runtime = stages()["runtime"]
    assert "ARG PYTHON_IMAGE=python:3.12-slim" in DOCKERFILE
    assert "pip install" not in runtime
    assert "COPY --from=build /opt/konsens /opt/konsens" in runtime
    assert re.search(r"^USER 10001", runtime, re.M)
    assert "HEALTHCHECK" in runtime and "/_stcore/health" in runtime
    for label in ("title", "description", "version", "revision", "created", "source", "licenses"):
        assert f"org.opencontainers.image.{label}=" in runtime, label
    assert 'org.opencontainers.image.version="${VERSION}"' in runtime


def test_default_image_version_is_the_project_version() -> None:
    assert f"ARG VERSION={PROJECT_VERSION}\n" in stages()["runtime"]


def test_dockerignore_lets_in_exactly_what_the_dockerfile_copies() -> None:
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    assert next(line for line in ignore if line and not line.startswith("#")) == "**"
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    copied = set()
    for source in re.findall(r"^COPY (?!--from)(?:--\S+ )*(.+?) \S+$", DOCKERFILE, re.M):
        copied.update(source.split())
    assert copied <= allowed | {".streamlit/config.toml"}, copied - allowed
    assert {
        "requirements-runtime.txt",
        "requirements.txt",
        "pyproject.toml",
        "app",
        "core",
        "workers",
        "pages",
    } <= allowed
    assert not allowed & {".git", ".venv", "tests", "docs"}


def test_compose_runs_every_worker_and_a_dev_profile_with_reload() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    production = {name for name, service in services.items() if "profiles" not in service}
    assert set(worker_modules()) <= production
    for name in worker_modules():
        assert services[name]["command"] == ["konsens", "worker", name]
    dashboard, workers = services["dashboard-dev"], services["workers-dev"]
    for service in (dashboard, workers):
        assert service["profiles"] == ["dev"]
        assert service["build"] == {"context": ".", "target": "dev"}
        assert ".:/app:ro" in service["volumes"]
    assert "--server.runOnSave=true" in dashboard["command"]
    assert dashboard["command"][:3] == ["streamlit", "run", "app/main.py"]
    assert workers["command"][:2] == ["watchmedo", "auto-restart"]
    assert workers["command"][-3:] == ["konsens", "up", "--no-dashboard"]
    assert all(port.startswith("127.0.0.1:") for port in dashboard["ports"])


def test_dev_stage_installs_the_full_lock_with_watchdog() -> None:
    dev = stages()["dev"]
    assert "--require-hashes -r /tmp/requirements.txt" in dev
    assert "watchdog" in (ROOT / "requirements.txt").read_text()
    assert "PYTHONPATH=/app" in dev


def test_the_build_stage_compiles_the_fast_kernels_into_the_installed_package_and_leaves_its_tools_behind() -> None:
    """The image's first `backtest --engine fast` loads the ahead-of-time kernels instead of compiling (17 s).

    ``-P``: the build runs in /src, which holds the sources; without it ``python -m`` would import
    ``/src/core`` and write the module there, outside the virtualenv the runtime stage copies
    (seen by building the project wheel into a fresh venv and running the command both ways).
    """
    build, runtime = stages()["build"], stages()["runtime"]
    install = build.index("pip install --no-index --no-deps /wheels/*.whl /wheels/project/*.whl")
    tools = build.index("/opt/konsens/bin/pip install --require-hashes --no-deps -r requirements-build.txt")
    compile_kernels = build.index("/opt/konsens/bin/python -P -m core.backtest.native_build")
    cleanup = build.index("/opt/konsens/bin/pip uninstall --yes setuptools pip")
    assert install < tools < compile_kernels < cleanup
    assert "gcc" in build and "gcc" not in runtime
    from tests.deploy.test_lock import parse_lock

    build_pins = parse_lock(ROOT / "requirements-build.txt")
    assert set(build_pins) == {"setuptools"}
    assert build_pins["setuptools"] == parse_lock(ROOT / "requirements.txt")["setuptools"]
