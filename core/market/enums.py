"""Enums of market data that import nothing (the ORM models and the light read models share them)."""

from __future__ import annotations

from enum import StrEnum


class AssetClass(StrEnum):
    CRYPTO = "crypto"
    STOCK = "stock"
    ETF = "etf"
    FIAT = "fiat"
    METAL = "metal"
    INDEX = "index"
