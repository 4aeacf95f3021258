"""Estimate the Docker image's size from the installed runtime set (no container engine needed).

    .venv/bin/python bench/image_size.py [--keep DIR]

Creates a fresh virtualenv, installs ``requirements-runtime.txt`` (hashes required) and the project
without dependencies, exactly as the image's build stage does, then prints the size of
site-packages, of the packages' own ``tests/`` folders (the build stage removes them), the largest
packages, and whether any test, lint or browser tool got in. Add the base image
(python:3.12-slim, about 125 MB unpacked) for the image estimate. Needs PyPI (or a pip cache).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOT_RUNTIME = ("pytest", "mypy", "ruff", "playwright", "hypothesis", "bandit", "coverage", "mkdocs")


def size_mb(path: Path) -> float:
    total = 0
    for folder, _dirs, files in os.walk(path):
        for name in files:
            file = Path(folder) / name
            if not file.is_symlink():
                total += file.stat().st_size
    return total / 2**20


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="build the virtualenv here and keep it")
    arguments = parser.parse_args()
    work = arguments.keep or Path(tempfile.mkdtemp(prefix="konsens-image-"))
    venv = work / "venv"
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "--require-hashes", "-r", str(ROOT / "requirements-runtime.txt")], check=True)
    subprocess.run([*pip, "--no-deps", str(ROOT)], check=True)
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "check"], check=True)
    site = next((venv / "lib").glob("python3.*/site-packages"))
    packages = {entry.name: size_mb(entry) for entry in site.iterdir() if entry.is_dir()}
    tests = sum(size_mb(path) for path in site.glob("*/tests")) + sum(size_mb(path) for path in site.glob("*/*/tests"))
    total = size_mb(site)
    tools = sorted(name for name in packages if name.lower().startswith(NOT_RUNTIME))
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(f"site-packages of the runtime set: {total:,.0f} MB")
    print(f"packages' own tests/ folders (removed in the image): {tests:,.0f} MB")
    print(f"runtime set in the image: {total - tests:,.0f} MB (+ python:3.12-slim base)")
    largest = sorted(packages.items(), key=lambda item: -item[1])[:8]
    print("largest: " + ", ".join(f"{name} {mb:,.0f} MB" for name, mb in largest))
    print(f"test, lint or browser tools installed: {', '.join(tools) or 'none'}")
    here = next(Path(sys.prefix, "lib").glob("python3.*/site-packages"), None)
    if here is not None:  # the baseline: the environment this script runs in (runtime + dev, test, docs tools)
        print(
            f"the runtime set is {(total - tests) / size_mb(here):.2f}x the size of this environment's "
            f"site-packages ({size_mb(here):,.0f} MB, {sys.prefix})"
        )
    print(
        f"wall {time.perf_counter() - started:,.0f} s, CPU (children) {usage.ru_utime + usage.ru_stime:,.1f} s, "
        f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores"
    )
    if arguments.keep is None:
        shutil.rmtree(work)
    return 1 if tools else 0


if __name__ == "__main__":
    sys.exit(main())
