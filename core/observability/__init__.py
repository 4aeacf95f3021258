"""Operations: Prometheus metrics, OpenTelemetry tracing, `konsens doctor` checks, backups."""
