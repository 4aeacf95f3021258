# Konsens: dashboard and workers in one image (the command chooses what runs).
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    KONSENS_HOME=/data \
    KONSENS_DASHBOARD_ADDRESS=0.0.0.0

RUN useradd --create-home --uid 10001 konsens \
    && mkdir -p /data /app \
    && chown konsens:konsens /data /app

WORKDIR /app
COPY requirements.txt ./
RUN pip install -r requirements.txt
COPY --chown=konsens:konsens . .
RUN pip install --no-deps -e .

USER konsens
VOLUME ["/data"]
EXPOSE 8501

HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health', timeout=4).read().strip() == b'ok' else 1)"

# Default: the dashboard only. `konsens up` (dashboard + all workers) or `konsens worker NAME` also work.
CMD ["python", "-m", "app.server", "--server.address=0.0.0.0", "--server.port=8501", "--server.headless=true"]
