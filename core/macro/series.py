"""The macro series Konsens follows (FRED ids), with what they mean and which release updates them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MacroSeries:
    series_id: str  # our id (FRED id, plus the transformation when one is asked for)
    fred_id: str
    title: str
    region: str
    unit: str
    units: str = "lin"  # FRED ``units``: lin = as published, pc1 = percent change from a year ago
    release_keyword: str | None = None  # matches the calendar's event titles (the release that updates it)
    high_impact: bool = False


MACRO_SERIES: tuple[MacroSeries, ...] = (
    MacroSeries("ECBDFR", "ECBDFR", "ECB deposit facility rate", "EU", "%", high_impact=True),
    MacroSeries("DFF", "DFF", "Fed funds effective rate", "US", "%", release_keyword="fomc", high_impact=True),
    MacroSeries(
        "EA_HICP_YOY", "CP0000EZ19M086NEST", "Euro area HICP inflation (y/y)", "EU", "%", units="pc1", high_impact=True
    ),
    MacroSeries(
        "US_CPI_YOY",
        "CPIAUCSL",
        "US CPI inflation (y/y)",
        "US",
        "%",
        units="pc1",
        release_keyword="consumer price index",
        high_impact=True,
    ),
    MacroSeries(
        "UNRATE", "UNRATE", "US unemployment rate", "US", "%", release_keyword="employment situation", high_impact=True
    ),
    MacroSeries("EA_UNRATE", "LRHUTTTTEZM156S", "Euro area unemployment rate", "EU", "%"),
    MacroSeries("DGS10", "DGS10", "US 10-year Treasury yield", "US", "%"),
    MacroSeries("DTWEXBGS", "DTWEXBGS", "US dollar index (broad)", "US", "index"),
    MacroSeries("DEXUSEU", "DEXUSEU", "EUR/USD", "EU", "USD per EUR"),
)
SERIES_BY_ID = {series.series_id: series for series in MACRO_SERIES}
