"""Which market a home's lake was filled from. The demo fills it from a simulated market; live runs must not merge
into that, and a demo must not merge one simulated market into another (recorded streams and rolling-window days
accumulate by key, so they would mix)."""

from __future__ import annotations

import time
from pathlib import Path

MARKET_MARKER = Path("sandbox") / "lake_market.txt"  # under $LEVWATCH_HOME, written by the demo
MARKET_DATA = ("lake", "landing")


class LakeOriginError(RuntimeError):
    """Live data would be written into a lake filled from a simulated market."""


def set_aside_other_market(home: Path, market_id: str) -> Path | None:
    """Before the demo fills the lake from the sandbox market `market_id`: if the lake and landing area hold data
    from another market (another scenario, or a simulator change), or from an unknown source, move them aside.
    Returns where the old data went, or None when there was nothing to move."""
    marker = home / MARKET_MARKER
    previous = marker.read_text().strip() if marker.exists() else None
    present = [name for name in MARKET_DATA if (home / name).exists()]
    moved_to = None
    if present and previous != market_id:
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        moved_to = home / "sandbox" / f"set-aside-{stamp}-{previous or 'unknown-source'}"
        moved_to.mkdir(parents=True)
        for name in present:
            (home / name).rename(moved_to / name)
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(market_id + "\n")
    return moved_to


def require_live_home(home: Path) -> None:
    """Refuse to write live venue data into a home whose lake the demo filled from a simulated market."""
    marker = home / MARKET_MARKER
    if marker.exists() and any((home / name).exists() for name in MARKET_DATA):
        raise LakeOriginError(
            f"{home} holds a lake filled from the simulated market {marker.read_text().strip()!r} (make demo); "
            f"live data would mix with it. Set LEVWATCH_HOME to another folder for live runs, or move "
            f"{home / 'lake'} and {home / 'landing'} away and delete {marker}"
        )
