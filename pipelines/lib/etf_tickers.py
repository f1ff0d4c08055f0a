"""US spot crypto ETFs by underlying: ticker -> issuer and first trading day. Adding a fund is one line.

The underlying's launch is its first fund's first trading day: before it there are no flows to expect. Issuers
and launch dates marked UNCONFIRMED were inferred from Farside's columns and the first non-zero flow in the
btabiado history (../shared/reference-data/etf_flows_btabiado), not from a prospectus.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class Fund:
    ticker: str
    underlying: str  # BTC | ETH | SOL
    issuer: str | None  # None: not known
    launched: date


FUNDS: tuple[Fund, ...] = (
    # Bitcoin: Farside's column order
    Fund("IBIT", "BTC", "BlackRock", date(2024, 1, 11)),
    Fund("FBTC", "BTC", "Fidelity", date(2024, 1, 11)),
    Fund("BITB", "BTC", "Bitwise", date(2024, 1, 11)),
    Fund("ARKB", "BTC", "ARK 21Shares", date(2024, 1, 11)),
    Fund("BTCO", "BTC", "Invesco Galaxy", date(2024, 1, 11)),
    Fund("EZBC", "BTC", "Franklin Templeton", date(2024, 1, 11)),
    Fund("BRRR", "BTC", "CoinShares Valkyrie", date(2024, 1, 11)),
    Fund("HODL", "BTC", "VanEck", date(2024, 1, 11)),
    Fund("BTCW", "BTC", "WisdomTree", date(2024, 1, 11)),
    Fund("MSBT", "BTC", "Morgan Stanley", date(2026, 4, 8)),  # UNCONFIRMED issuer and launch
    Fund("GBTC", "BTC", "Grayscale", date(2024, 1, 11)),  # converted from a trust that day
    Fund("BTC", "BTC", "Grayscale", date(2024, 7, 31)),  # Bitcoin Mini Trust
    Fund("DEFI", "BTC", "Hashdex", date(2024, 1, 11)),  # not on Farside's page; in some exports
    # Ether
    Fund("ETHA", "ETH", "BlackRock", date(2024, 7, 23)),
    Fund("ETHB", "ETH", "BlackRock", date(2026, 3, 12)),  # staked ETH trust; UNCONFIRMED issuer and launch
    Fund("FETH", "ETH", "Fidelity", date(2024, 7, 23)),
    Fund("ETHW", "ETH", "Bitwise", date(2024, 7, 23)),
    Fund("CETH", "ETH", "21Shares", date(2024, 7, 23)),  # renamed TETH
    Fund("TETH", "ETH", "21Shares", date(2024, 7, 23)),
    Fund("ETHV", "ETH", "VanEck", date(2024, 7, 23)),
    Fund("QETH", "ETH", "Invesco Galaxy", date(2024, 7, 23)),
    Fund("EZET", "ETH", "Franklin Templeton", date(2024, 7, 23)),
    Fund("ETHE", "ETH", "Grayscale", date(2024, 7, 23)),  # converted from a trust that day
    Fund("ETH", "ETH", "Grayscale", date(2024, 7, 23)),  # Ethereum Mini Trust
    # Solana: BSOL's launch is the underlying's; the other dates are UNCONFIRMED
    Fund("BSOL", "SOL", "Bitwise", date(2025, 10, 28)),
    Fund("VSOL", "SOL", "VanEck", date(2025, 11, 17)),
    Fund("FSOL", "SOL", "Fidelity", date(2025, 11, 18)),
    Fund("TSOL", "SOL", "21Shares", date(2025, 11, 19)),
    Fund("SOEZ", "SOL", "Franklin Templeton", date(2025, 11, 25)),
    Fund("MSOL", "SOL", None, date(2025, 11, 25)),  # issuer not known
    Fund("GSOL", "SOL", "Grayscale", date(2025, 10, 29)),  # converted from a trust
)

UNDERLYINGS: tuple[str, ...] = ("BTC", "ETH", "SOL")
_BY_KEY = {(f.underlying, f.ticker): f for f in FUNDS}


class UnknownTickerError(KeyError):
    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0])


def funds(underlying: str) -> tuple[Fund, ...]:
    if underlying not in UNDERLYINGS:
        raise UnknownTickerError(f"unknown underlying {underlying!r}; known: {', '.join(UNDERLYINGS)}")
    return tuple(f for f in FUNDS if f.underlying == underlying)


def fund(underlying: str, ticker: str) -> Fund:
    try:
        return _BY_KEY[(underlying, ticker.upper())]
    except KeyError:
        known = ", ".join(f.ticker for f in funds(underlying))
        raise UnknownTickerError(f"unknown {underlying} ETF ticker {ticker!r}; known: {known}") from None


def is_known(underlying: str, ticker: str) -> bool:
    return (underlying, ticker.upper()) in _BY_KEY


def issuer(underlying: str, ticker: str) -> str | None:
    found = _BY_KEY.get((underlying, ticker.upper()))
    return found.issuer if found else None


def launch(underlying: str) -> date:
    """The underlying's first ETF trading day."""
    return min(f.launched for f in funds(underlying))
