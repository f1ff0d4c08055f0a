"""DefiLlama (free, no key): lending and CDP protocols (supplied and borrowed per chain) and stablecoins (supply per
chain, daily price). Values are JSON numbers; dates are unix SECONDS (a stablecoin chart's `date` can be a string).

Two hosts, one venue. api.llama.fi serves `/protocols` and `/protocol/{slug}`; stablecoins.llama.fi serves
`/stablecoins`, `/stablecoincharts/{chain}` and `/stablecoinprices`. `make_http` returns a client for the first that
carries a second client for the other (`http.stablecoins`); both report into the same api_health log. The
stablecoins base URL is LEVWATCH_DEFILLAMA_STABLECOINS_URL when set; else the real host while the main URL is the
real api.llama.fi; else the main URL itself (the sandbox, or a mirror, serves both hosts' paths at one base).

Neither dataset is per perp asset: each fetch covers every selected protocol or stablecoin, so the DatasetSpecs
list one stand-in asset (the first configured one) to make the ingest call the fetch exactly once per window.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from pipelines.instruments import ASSETS
from pipelines.lib.freshness import MaxAge
from pipelines.lib.numbers import PayloadError, to_float, to_int
from pipelines.lib.timeutil import DAY_MS
from pipelines.settings import DEFAULT_BASE_URLS, load_settings
from pipelines.venues.base import DatasetSpec, raw_json, to_table
from pipelines.venues.http import ApiCall, VenueHttp

VENUE = "defillama"
STABLECOINS_HOST = "defillama_stablecoins"  # the settings key of the second host

# Which protocols count as lending: DefiLlama categories, and a TVL floor (each protocol costs one request,
# and the long tail adds requests, not debt).
LENDING_CATEGORIES: tuple[str, ...] = ("Lending", "CDP")
MIN_PROTOCOL_TVL_USD = 100e6
# Which stablecoins: USD-pegged ones above a supply floor; 'all' is the global series, a chain name (as DefiLlama
# spells it, e.g. "Ethereum") adds that chain's series at one request per coin and chain.
PEG_TYPES: tuple[str, ...] = ("peggedUSD",)
MIN_STABLECOIN_SUPPLY_USD = 100e6
STABLECOIN_CHAINS: tuple[str, ...] = ("all",)
ALL_CHAINS = "all"

# chainTvls keys that are not chains, alone or as a "<Chain>-<suffix>" suffix
NON_CHAIN_KEYS = frozenset(
    {"borrowed", "staking", "pool2", "vesting", "offers", "treasury", "doublecounted", "liquidstaking"}
    | {"dcAndLsOverlap"}
)
HISTORY_CHUNK_DAYS = 3650  # one /protocol or chart request returns the whole history: one fetch per backfill


class DefiLlamaHttp(VenueHttp):
    """The api.llama.fi client, carrying the stablecoins.llama.fi client: one venue, two hosts."""

    def __init__(self, base_url: str, stablecoins_url: str, **kwargs):
        super().__init__(VENUE, base_url, **kwargs)
        self.stablecoins = VenueHttp(VENUE, stablecoins_url, **kwargs)

    def drain_calls(self) -> list[ApiCall]:
        return super().drain_calls() + self.stablecoins.drain_calls()

    def close(self) -> None:
        super().close()
        self.stablecoins.close()


def stablecoins_base_url(main_url: str) -> str:
    configured = load_settings().base_url(STABLECOINS_HOST)
    if configured != DEFAULT_BASE_URLS[STABLECOINS_HOST]:
        return configured  # set explicitly
    if main_url.rstrip("/") == DEFAULT_BASE_URLS[VENUE]:
        return configured  # live: the real second host
    return main_url.rstrip("/")  # the sandbox or a mirror answers both hosts' paths at one base


def make_http(base_url: str, *, stablecoins_url: str | None = None, **kwargs) -> DefiLlamaHttp:
    # Cloudflare answers blocks with an HTML 403: a plain VenueError (not retried), no ban breaker
    return DefiLlamaHttp(base_url, stablecoins_url or stablecoins_base_url(base_url), **kwargs)


# -- parsers: payload -> rows (pure; tested on real recordings) ------------------------------------------------


def slug_of(protocol: dict) -> str:
    """The protocol's slug; DefiLlama's own rule (lowercase, spaces to dashes, no apostrophes) when it is blank."""
    slug = (protocol.get("slug") or "").strip()
    if slug:
        return slug
    name = (protocol.get("name") or "").strip()
    if not name:
        raise PayloadError("defillama /protocols: a protocol has neither slug nor name")
    return "-".join(name.lower().split(" ")).replace("'", "")


def select_protocols(
    payload: Any,
    categories: Iterable[str] = LENDING_CATEGORIES,
    min_tvl_usd: float = MIN_PROTOCOL_TVL_USD,
) -> list[dict]:
    """/protocols -> [{slug, name, category}] in the wanted categories with TVL >= the floor, largest first."""
    if not isinstance(payload, list):
        raise PayloadError(f"defillama /protocols: expected a list, got {type(payload).__name__}")
    wanted = set(categories)
    chosen = []
    for p in payload:
        if not isinstance(p, dict) or p.get("category") not in wanted:
            continue
        tvl = to_float(p.get("tvl"), "tvl") or 0.0
        if tvl >= min_tvl_usd:
            chosen.append(
                {"slug": slug_of(p), "name": p.get("name"), "category": p.get("category"), "tvl": tvl}
            )
    chosen.sort(key=lambda p: -p["tvl"])
    seen, unique = set(), []
    for p in chosen:
        if p["slug"] not in seen:
            seen.add(p["slug"])
            unique.append(p)
    return unique


def is_chain_key(key: str) -> bool:
    if key in NON_CHAIN_KEYS:
        return False
    head, sep, tail = key.rpartition("-")
    return not (sep and tail in NON_CHAIN_KEYS)


def daily_points(
    series: Any, where: str, unit: str = "totalLiquidityUSD"
) -> dict[int, tuple[int, float | None]]:
    """[{date (unix s), <unit>}] -> {day start ms: (date s, value)}, keeping each day's latest point.

    The last point of a DefiLlama series may be intraday (the current value); it stands for its day."""
    if not isinstance(series, list):
        raise PayloadError(f"defillama {where}: expected a list of points, got {type(series).__name__}")
    by_day: dict[int, tuple[int, float | None]] = {}
    for point in series:
        if not isinstance(point, dict) or "date" not in point:
            raise PayloadError(f"defillama {where}: a point without a date: {point!r}")
        seconds = to_int(point["date"], f"{where}.date")
        value = point.get(unit)
        if isinstance(value, dict):
            raise PayloadError(f"defillama {where}: {unit} is an object; pass its peg key")
        day = seconds * 1000 // DAY_MS * DAY_MS
        if day not in by_day or by_day[day][0] <= seconds:
            by_day[day] = (seconds, to_float(value, f"{where}.{unit}"))
    return by_day


def current_chain_values(payload: dict) -> dict[str, dict[str, float | None]]:
    """currentChainTvls (in /protocol/{slug}) or chainTvls (in /protocols) -> {chain: {supplied, borrowed}}."""
    values = payload.get("currentChainTvls", payload.get("chainTvls"))
    if not isinstance(values, dict):
        raise PayloadError("defillama: no currentChainTvls/chainTvls object")
    out = {}
    for key, value in values.items():
        if is_chain_key(key) and not isinstance(value, dict):
            out[key] = {
                "supplied": to_float(value, key),
                "borrowed": to_float(values.get(f"{key}-borrowed"), f"{key}-borrowed"),
            }
    return out


def parse_protocol_history(payload: Any, protocol: dict, start_ms: int, end_ms: int) -> list[dict]:
    """/protocol/{slug} -> one row per chain and day in [start, end): chainTvls[<Chain>] is supplied,
    chainTvls[<Chain>-borrowed] borrowed (null when the protocol reports none, as CDPs do)."""
    slug = protocol["slug"]
    if not isinstance(payload, dict):
        raise PayloadError(f"defillama /protocol/{slug}: expected an object, got {type(payload).__name__}")
    chain_tvls = payload.get("chainTvls")
    if not isinstance(chain_tvls, dict):
        raise PayloadError(f"defillama /protocol/{slug}: no chainTvls (history by chain) in the response")
    rows = []
    for chain in sorted(k for k in chain_tvls if is_chain_key(k)):
        where = f"/protocol/{slug} chainTvls[{chain}]"
        supplied = daily_points((chain_tvls[chain] or {}).get("tvl"), where)
        borrowed_series = chain_tvls.get(f"{chain}-borrowed")
        borrowed = daily_points(borrowed_series.get("tvl"), where + "-borrowed") if borrowed_series else {}
        for day in sorted(set(supplied) | set(borrowed)):
            if not start_ms <= day < end_ms:
                continue
            s, b = supplied.get(day), borrowed.get(day)
            rows.append(
                {
                    "venue": VENUE,
                    "protocol": slug,
                    "protocol_name": protocol.get("name") or payload.get("name"),
                    "category": protocol.get("category") or payload.get("category"),
                    "chain": chain,
                    "ts": day,
                    "supplied_usd": s[1] if s else None,
                    "borrowed_usd": b[1] if b else None,
                    "raw": raw_json(
                        {
                            "supplied": {"date": s[0], "totalLiquidityUSD": s[1]} if s else None,
                            "borrowed": {"date": b[0], "totalLiquidityUSD": b[1]} if b else None,
                        }
                    ),
                }
            )
    return rows


def select_stablecoins(
    payload: Any,
    peg_types: Iterable[str] = PEG_TYPES,
    min_supply_usd: float = MIN_STABLECOIN_SUPPLY_USD,
) -> list[dict]:
    """/stablecoins -> the pegged assets in the wanted peg types above the supply floor, largest first."""
    if not isinstance(payload, dict) or not isinstance(payload.get("peggedAssets"), list):
        raise PayloadError("defillama /stablecoins: expected an object with a peggedAssets list")
    wanted, chosen = set(peg_types), []
    for coin in payload["peggedAssets"]:
        peg = coin.get("pegType")
        if peg not in wanted:
            continue
        if not coin.get("id") or not coin.get("symbol"):
            raise PayloadError(
                f"defillama /stablecoins: a pegged asset without id or symbol: {coin.get('name')!r}"
            )
        supply = to_float((coin.get("circulating") or {}).get(peg), f"{coin['symbol']}.circulating") or 0.0
        if supply >= min_supply_usd:
            chosen.append(
                {
                    "id": str(coin["id"]),
                    "symbol": coin["symbol"],
                    "name": coin.get("name"),
                    "peg_type": peg,
                    "peg_mechanism": coin.get("pegMechanism"),
                    "gecko_id": coin.get("gecko_id"),
                    "price": to_float(
                        coin.get("price"), f"{coin['symbol']}.price"
                    ),  # with includePrices only
                    "supply_usd": supply,
                }
            )
    return sorted(chosen, key=lambda c: -c["supply_usd"])


def parse_supply_chart(payload: Any, peg_type: str, where: str) -> dict[int, tuple[int, float | None]]:
    """/stablecoincharts/{chain}?stablecoin=id -> {day ms: (date s, supply in USD)}; the USD value when given."""
    if not isinstance(payload, list):
        raise PayloadError(f"defillama {where}: expected a list, got {type(payload).__name__}")
    points = []
    for point in payload:
        usd = point.get("totalCirculatingUSD") or point.get("totalCirculating") or {}
        points.append({"date": point.get("date"), "supply": usd.get(peg_type)})
    return daily_points(points, where, unit="supply")


def parse_price_history(payload: Any) -> tuple[dict[tuple[str, int], float], dict[tuple[str, int], dict]]:
    """/stablecoinprices -> ({(gecko id, day ms): price}, {(gecko id, day ms): worst venue print}).

    `worstVenuePrices` is not in the real API (it offers no venue-level prices): the sandbox adds it, the day's
    lowest single-venue print {venue, price, date}; the live pipeline finds none and leaves the columns null."""
    if not isinstance(payload, list):
        raise PayloadError(f"defillama /stablecoinprices: expected a list, got {type(payload).__name__}")
    prices, worst = {}, {}
    for point in payload:
        seconds = to_int(point.get("date"), "stablecoinprices.date")
        day = seconds * 1000 // DAY_MS * DAY_MS
        for gecko_id, price in (point.get("prices") or {}).items():
            prices[(gecko_id, day)] = to_float(price, f"prices.{gecko_id}")
        for gecko_id, low in (point.get("worstVenuePrices") or {}).items():
            worst[(gecko_id, day)] = {
                "venue": low.get("venue"),
                "price": to_float(low.get("price"), f"worstVenuePrices.{gecko_id}.price"),
                "ts": to_int(low.get("date"), f"worstVenuePrices.{gecko_id}.date") * 1000,
            }
    return prices, worst


def stablecoin_rows(
    coin: dict,
    chain: str,
    supply: dict[int, tuple[int, float | None]],
    prices: dict[tuple[str, int], float],
    worst: dict[tuple[str, int], dict],
    start_ms: int,
    end_ms: int,
) -> list[dict]:
    rows = []
    newest = max(supply) if supply else None
    gecko = coin.get("gecko_id")
    for day in sorted(supply):
        if not start_ms <= day < end_ms:
            continue
        price = prices.get((gecko, day)) if gecko else None
        if price is None and day == newest:
            price = coin.get("price")  # today: the listing's current price
        low = worst.get((gecko, day), {}) if gecko else {}
        rows.append(
            {
                "venue": VENUE,
                "stablecoin_id": coin["id"],
                "symbol": coin["symbol"],
                "name": coin.get("name"),
                "chain": chain,
                "ts": day,
                "supply_usd": supply[day][1],
                "price": price,
                "peg_type": coin["peg_type"],
                "peg_mechanism": coin.get("peg_mechanism"),
                "worst_venue_price": low.get("price"),
                "worst_venue": low.get("venue"),
                "worst_venue_ts": low.get("ts"),
                "raw": raw_json(
                    {"date": supply[day][0], "supply": supply[day][1], "gecko_id": gecko, "price": price}
                ),
            }
        )
    return rows


# -- datasets ------------------------------------------------------------------------------------------------


def fetch_lending(http: DefiLlamaHttp, asset: str, start_ms: int, end_ms: int):
    """Every selected lending/CDP protocol, every chain, each day in [start, end). `asset` is a stand-in."""
    rows = []
    for protocol in select_protocols(http.get_json("/protocols")):
        payload = http.get_json(f"/protocol/{protocol['slug']}")
        rows.extend(parse_protocol_history(payload, protocol, start_ms, end_ms))
    return to_table("lending", rows)


def fetch_stablecoins(http: DefiLlamaHttp, asset: str, start_ms: int, end_ms: int):
    """Every selected stablecoin, on each of STABLECOIN_CHAINS, each day in [start, end)."""
    host = http.stablecoins
    coins = select_stablecoins(host.get_json("/stablecoins", {"includePrices": "true"}))
    prices, worst = parse_price_history(host.get_json("/stablecoinprices"))
    rows = []
    for coin in coins:
        for chain in STABLECOIN_CHAINS:
            path = f"/stablecoincharts/{chain}"  # the chain goes in the path: ?chain= silently means all
            supply = parse_supply_chart(
                host.get_json(path, {"stablecoin": coin["id"]}),
                coin["peg_type"],
                f"{path}?stablecoin={coin['id']}",
            )
            rows.extend(stablecoin_rows(coin, chain, supply, prices, worst, start_ms, end_ms))
    return to_table("stablecoins", rows)


STAND_IN_ASSETS = ASSETS[:1]  # not per-asset datasets: one stand-in so the ingest calls the fetch once

# DefiLlama publishes daily points: a newest day older than two days means the source (or our schedule) has stalled
DAILY_POINTS_MAX_AGE = MaxAge(error_after=timedelta(days=2), in_days=True)

DATASETS = {
    "lending": DatasetSpec(
        "lending",
        fetch_lending,
        chunk_days=HISTORY_CHUNK_DAYS,
        assets=STAND_IN_ASSETS,
        max_age=DAILY_POINTS_MAX_AGE,
        description="DefiLlama lending and CDP protocols: supplied and borrowed USD per protocol, chain and day.",
    ),
    "stablecoins": DatasetSpec(
        "stablecoins",
        fetch_stablecoins,
        chunk_days=HISTORY_CHUNK_DAYS,
        assets=STAND_IN_ASSETS,
        max_age=DAILY_POINTS_MAX_AGE,
        description="DefiLlama stablecoins: supply per stablecoin and chain, and the daily price, per day.",
    ),
}
