"""Fixtures of the operations tests: the trading market of the execution tests, scrape helpers."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

from tests.core.execution.conftest import make_executor, market, trading_settings

__all__ = ["make_executor", "market", "samples", "trading_settings"]


def samples(collector: Collector) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Scrape ``collector`` through the text format and return ``{(name, sorted labels): value}``."""
    registry = CollectorRegistry()
    registry.register(collector)
    text = generate_latest(registry).decode()
    found: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found
