# syntax=docker/dockerfile:1.7
# Konsens: dashboard and workers in one image (the command chooses what runs).
#   build:   resolves the hashed runtime lock into wheels, builds the project's wheel and the fast
#            backtest's ahead-of-time kernels (gcc and setuptools stay in this stage)
#   runtime: python slim, a virtualenv with only the runtime set (no test, lint or browser tool), non-root
# `docker build --build-arg VERSION=1.2.3 .` labels a release; the default is the version in pyproject.toml.
ARG PYTHON_IMAGE=python:3.12-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
# gcc: numba's ahead-of-time compiler builds the fast backtest kernels into the image (build stage only)
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
COPY requirements-runtime.txt requirements-build.txt ./
RUN pip wheel --require-hashes --no-deps --wheel-dir /wheels -r requirements-runtime.txt
COPY pyproject.toml README.md ./
COPY app ./app
COPY core ./core
COPY workers ./workers
COPY pages ./pages
RUN pip wheel --no-deps --wheel-dir /wheels/project . \
    && python -m venv /opt/konsens \
    && /opt/konsens/bin/pip install --no-index --no-deps /wheels/*.whl /wheels/project/*.whl \
    && /opt/konsens/bin/pip install --require-hashes --no-deps -r requirements-build.txt \
    && /opt/konsens/bin/python -P -m core.backtest.native_build \
    && /opt/konsens/bin/pip uninstall --yes setuptools pip \
    && find /opt/konsens/lib/python3.12/site-packages -mindepth 2 -maxdepth 3 -type d -name tests -prune -exec rm -rf {} +

# Development (compose `dev` profile): the whole hashed lock (runtime, test, dev, docs) and the
# source mounted at /app instead of installed, so the dashboard reloads on save and the workers
# restart on change. Not the default target.
FROM ${PYTHON_IMAGE} AS dev
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/konsens/bin:$PATH \
    PYTHONPATH=/app \
    PYTHONUNBUFFERED=1 \
    KONSENS_HOME=/data \
    KONSENS_DASHBOARD_ADDRESS=0.0.0.0
COPY requirements-pip.txt requirements.txt /tmp/
RUN python -m venv /opt/konsens \
    && /opt/konsens/bin/pip install --require-hashes -r /tmp/requirements-pip.txt \
    && /opt/konsens/bin/pip install --require-hashes -r /tmp/requirements.txt \
    && useradd --create-home --uid 10001 --user-group konsens \
    && mkdir -p /data /app \
    && chown konsens:konsens /data
USER 10001:10001
WORKDIR /app
CMD ["konsens", "--help"]

FROM ${PYTHON_IMAGE} AS runtime
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="Konsens" \
      org.opencontainers.image.description="AI trading analyst workstation: Streamlit dashboard, workers, AI consensus, paper/live trading, Austrian tax report" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.licenses="LicenseRef-Proprietary" \
      org.opencontainers.image.documentation="https://github.com/konsens/konsens/tree/main/docs" \
      org.opencontainers.image.source="https://github.com/konsens/konsens"

ENV PATH=/opt/konsens/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    KONSENS_HOME=/data \
    KONSENS_DASHBOARD_ADDRESS=0.0.0.0

# postgresql-client: pg_dump / pg_restore for `konsens backup` and `restore` on PostgreSQL.
RUN apt-get update \
    && apt-get install -y --no-install-recommends postgresql-client \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 --user-group konsens \
    && mkdir -p /data /home/konsens/.streamlit \
    && chown konsens:konsens /data
COPY --from=build /opt/konsens /opt/konsens
# Streamlit reads ~/.streamlit/config.toml wherever the dashboard is started from.
COPY --chown=konsens:konsens .streamlit/config.toml /home/konsens/.streamlit/config.toml

USER 10001:10001
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8501

HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health', timeout=4).read().strip() == b'ok' else 1)"

# Default: the dashboard only. `konsens up` (dashboard + all workers) or `konsens worker NAME` also work.
CMD ["python", "-m", "app.server", "--server.address=0.0.0.0", "--server.port=8501", "--server.headless=true"]
