"""Every venue module the pipeline ingests from. A new venue adds one line here."""

from __future__ import annotations

from types import ModuleType

from pipelines.venues import binance, bybit, farside, hyperliquid, okx

VENUE_MODULES: dict[str, ModuleType] = {
    "binance": binance,
    "bybit": bybit,
    "farside": farside,
    "hyperliquid": hyperliquid,
    "okx": okx,
}
