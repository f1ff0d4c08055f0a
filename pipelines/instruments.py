"""The single instrument table: asset x venue -> venue symbol. Adding an asset is one line."""

from __future__ import annotations

from dataclasses import dataclass

VENUES = ("binance", "bybit", "okx", "hyperliquid")


@dataclass(frozen=True)
class Instrument:
    asset: str
    binance: str
    bybit: str
    okx: str
    hyperliquid: str

    def symbol(self, venue: str) -> str:
        if venue not in VENUES:
            raise UnknownSymbolError(f"unknown venue {venue!r}; known venues: {', '.join(VENUES)}")
        return getattr(self, venue)


class UnknownSymbolError(KeyError):
    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0])


# USDT-margined perpetuals (Hyperliquid settles in USDC; its coin name is the asset).
INSTRUMENTS: tuple[Instrument, ...] = (
    Instrument("BTC", binance="BTCUSDT", bybit="BTCUSDT", okx="BTC-USDT-SWAP", hyperliquid="BTC"),
    Instrument("ETH", binance="ETHUSDT", bybit="ETHUSDT", okx="ETH-USDT-SWAP", hyperliquid="ETH"),
    Instrument("SOL", binance="SOLUSDT", bybit="SOLUSDT", okx="SOL-USDT-SWAP", hyperliquid="SOL"),
    Instrument("XRP", binance="XRPUSDT", bybit="XRPUSDT", okx="XRP-USDT-SWAP", hyperliquid="XRP"),
    Instrument("DOGE", binance="DOGEUSDT", bybit="DOGEUSDT", okx="DOGE-USDT-SWAP", hyperliquid="DOGE"),
)

ASSETS: tuple[str, ...] = tuple(i.asset for i in INSTRUMENTS)
_BY_ASSET = {i.asset: i for i in INSTRUMENTS}


def instrument(asset: str) -> Instrument:
    try:
        return _BY_ASSET[asset.upper()]
    except KeyError:
        raise UnknownSymbolError(f"unknown asset {asset!r}; configured assets: {', '.join(ASSETS)}") from None


def venue_symbol(venue: str, asset: str) -> str:
    return instrument(asset).symbol(venue)


def asset_for_symbol(venue: str, symbol: str) -> str:
    for inst in INSTRUMENTS:
        if inst.symbol(venue) == symbol:
            return inst.asset
    raise UnknownSymbolError(f"unknown {venue} symbol {symbol!r}")
