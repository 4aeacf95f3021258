#!/usr/bin/env bash
# Compile the exact, hashed locks from pyproject.toml with pip-tools (`make lock`).
#   requirements.txt          runtime + test + dev + docs: the README set-up, CI, developers
#   requirements-runtime.txt  runtime only, the same versions: the Docker image
# Pins already in the lock are kept unless pyproject.toml no longer allows them; pass --upgrade
# (or --upgrade-package NAME) to move to newer releases. Needs PyPI, and pip-tools (`.[dev]`).
set -euo pipefail
cd "$(dirname "$0")/.."
export CUSTOM_COMPILE_COMMAND="make lock"
PYTHON="${PYTHON:-.venv/bin/python}"
common=(--quiet --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url --no-emit-find-links)
"$PYTHON" -m piptools compile "${common[@]}" "$@" \
  --extra test --extra dev --extra docs --output-file requirements.txt pyproject.toml
"$PYTHON" -m piptools compile "${common[@]}" "$@" \
  --constraint requirements.txt --output-file requirements-runtime.txt pyproject.toml
