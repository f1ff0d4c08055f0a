"""Every venue module the pipeline ingests from. A new venue adds one line here."""

from __future__ import annotations

from types import ModuleType

from pipelines.venues import binance, bybit, defillama, deribit, farside, hyperliquid, okx

VENUE_MODULES: dict[str, ModuleType] = {
    "binance": binance,
    "bybit": bybit,
    "defillama": defillama,
    "deribit": deribit,
    "farside": farside,
    "hyperliquid": hyperliquid,
    "okx": okx,
}
