"""DefiLlama over the simulated market: api.llama.fi (`/protocols`, `/protocol/{slug}`) and stablecoins.llama.fi
(`/stablecoins`, `/stablecoincharts/{chain}`, `/stablecoinprices`), both served by one app (mounted at /defillama
and /defillama_stablecoins). JSON numbers, unix-second dates; the books come from pipelines/sandbox/defi.py.

Sandbox choices (UNCONFIRMED as venue facts): an unknown protocol slug answers HTTP 404 {"message": ...}; over 300
requests a minute answers HTTP 429 (the free tier's limit is not published); a stablecoin chart's `date` is a string
of seconds (as seen in the wild), every other date a number; daily points sit at 00:00 UTC and none is later than
the clock. Sandbox additions, not in the real API: `worstVenuePrices` in each /stablecoinprices point (the day's
lowest single-venue print), and GET /_sandbox/truth (the DeFi ground-truth log).
"""

from __future__ import annotations

from aiohttp import web

from pipelines.sandbox import defi
from pipelines.sandbox.serving import STATE_KEY, SandboxState, apply_faults, json_response, state_of

VENUE = "defillama"
REQUESTS_PER_MINUTE = 300


def error_body(status: int, msg: str) -> dict:
    return {"message": msg}


def _series(points: list[dict], key: str) -> list[dict]:
    return [
        {"date": p["ts"] // 1000, "totalLiquidityUSD": round(p[key], 2)} for p in points if p[key] is not None
    ]


def _visible(state: SandboxState, points: list[dict]) -> list[dict]:
    return [p for p in points if p["ts"] <= state.clock_ms]


def _current_chain_tvls(state: SandboxState, protocol: defi.Protocol) -> dict[str, float]:
    """The latest snapshot's TVL by chain, with "<Chain>-borrowed" and "borrowed" keys (excluded from tvl)."""
    books = defi.lending_books(state.market)
    values: dict[str, float] = {}
    for chain in protocol.chains:
        points = _visible(state, books[(protocol.slug, chain)])
        if not points:
            continue
        values[chain] = round(points[-1]["supplied_usd"], 2)
        if points[-1]["borrowed_usd"] is not None:
            values[f"{chain}-borrowed"] = round(points[-1]["borrowed_usd"], 2)
            values["borrowed"] = round(values.get("borrowed", 0.0) + points[-1]["borrowed_usd"], 2)
    return values


def protocols(request: web.Request, state: SandboxState) -> web.Response:
    out = []
    for p in defi.PROTOCOLS:
        chain_tvls = _current_chain_tvls(state, p)
        out.append(
            {
                "id": p.id or str(9000 + sum(map(ord, p.slug)) % 1000),
                "name": p.name,
                "symbol": "-",
                "slug": p.slug,
                "category": p.category,
                "chains": list(p.chains),
                "tvl": round(sum(v for k, v in chain_tvls.items() if k in p.chains), 2),
                "chainTvls": chain_tvls,
            }
        )
    return json_response(out)


def protocol(request: web.Request, state: SandboxState) -> web.Response:
    slug = request.match_info["slug"]
    found = next((p for p in defi.PROTOCOLS if p.slug == slug), None)
    if found is None:
        return json_response({"message": f"Protocol {slug} not found"}, status=404)
    books = defi.lending_books(state.market)
    chain_tvls, total = {}, {}
    for chain in found.chains:
        points = _visible(state, books[(slug, chain)])
        chain_tvls[chain] = {"tvl": _series(points, "supplied_usd")}
        for p in points:
            total[p["ts"]] = total.get(p["ts"], 0.0) + p["supplied_usd"]
        if found.chains[chain].borrowed_usd is not None:
            chain_tvls[f"{chain}-borrowed"] = {"tvl": _series(points, "borrowed_usd")}
    borrowed_keys = [k for k in chain_tvls if k.endswith("-borrowed")]
    if borrowed_keys:
        summed: dict[int, float] = {}
        for k in borrowed_keys:
            for point in chain_tvls[k]["tvl"]:
                summed[point["date"]] = summed.get(point["date"], 0.0) + point["totalLiquidityUSD"]
        chain_tvls["borrowed"] = {
            "tvl": [{"date": d, "totalLiquidityUSD": round(v, 2)} for d, v in sorted(summed.items())]
        }
    return json_response(
        {
            "id": found.id,
            "name": found.name,
            "category": found.category,
            "chains": list(found.chains),
            "tvl": [
                {"date": ts // 1000, "totalLiquidityUSD": round(v, 2)} for ts, v in sorted(total.items())
            ],
            "currentChainTvls": _current_chain_tvls(state, found),
            "chainTvls": chain_tvls,
        }
    )


def _latest_day_ms(state: SandboxState) -> int:
    return defi._day_ms(defi.served_days(state.market, state.clock_ms)[-1])


def stablecoins(request: web.Request, state: SandboxState) -> web.Response:
    now_day = _latest_day_ms(state)
    with_prices = request.query.get("includePrices", "").lower() == "true"
    assets = []
    for c in defi.STABLECOINS:
        current = defi.supply(c, now_day, state.market)
        coin = {
            "id": c.id,
            "name": c.name,
            "symbol": c.symbol,
            "gecko_id": c.gecko_id,
            "pegType": "peggedUSD",
            "pegMechanism": c.peg_mechanism,
            "circulating": {"peggedUSD": round(current, 2)},
            "circulatingPrevDay": {
                "peggedUSD": round(defi.supply(c, now_day - defi.DAY_MS, state.market), 2)
            },
            "circulatingPrevWeek": {
                "peggedUSD": round(defi.supply(c, now_day - 7 * defi.DAY_MS, state.market), 2)
            },
            "chainCirculating": {
                chain: {"current": {"peggedUSD": round(current * share, 2)}}
                for chain, share in c.chains.items()
            },
            "chains": list(c.chains),
        }
        if with_prices:
            coin["price"] = defi.aggregate_price(c, now_day, state.market)
        assets.append(coin)
    chains = sorted({chain for c in defi.STABLECOINS for chain in c.chains})
    return json_response({"peggedAssets": assets, "chains": [{"name": c} for c in chains]})


def stablecoin_chart(request: web.Request, state: SandboxState) -> web.Response:
    chain = request.match_info["chain"]
    wanted = request.query.get("stablecoin")
    coins = [c for c in defi.STABLECOINS if wanted is None or c.id == wanted]
    out = []
    for day in defi.served_days(state.market, state.clock_ms):
        ms = defi._day_ms(day)
        total = 0.0
        for c in coins:
            share = 1.0 if chain == "all" else c.chains.get(chain, 0.0)
            total += defi.supply(c, ms, state.market) * share
        value = {"peggedUSD": round(total, 2)}
        out.append({"date": str(ms // 1000), "totalCirculating": value, "totalCirculatingUSD": value})
    return json_response(out)


def stablecoin_prices(request: web.Request, state: SandboxState) -> web.Response:
    out = []
    for day in defi.served_days(state.market, state.clock_ms):
        ms = defi._day_ms(day)
        point = {
            "date": ms // 1000,
            "prices": {c.gecko_id: defi.aggregate_price(c, ms, state.market) for c in defi.STABLECOINS},
        }
        if ms + defi.DAY_MS <= state.clock_ms:  # a finished day only: its worst print is known
            lows = {c.gecko_id: defi.worst_venue_print(c, day, state.market) for c in defi.STABLECOINS}
            point["worstVenuePrices"] = {
                gecko: {"venue": low["venue"], "price": low["price"], "date": low["ts"] // 1000}
                for gecko, low in lows.items()
            }
        out.append(point)
    return json_response(out)


def sandbox_truth(request: web.Request, state: SandboxState) -> web.Response:
    return json_response(defi.truth(state.market))


def _wrap(handler):
    async def route(request: web.Request) -> web.StreamResponse:
        fault = await apply_faults(request, VENUE, error_body)
        if fault is not None:
            return fault
        state = state_of(request)
        if state.spend(VENUE, "requests", 1, REQUESTS_PER_MINUTE, 60.0) is not None:
            return json_response({"message": "Too Many Requests"}, status=429)
        return handler(request, state)

    return route


def app(state: SandboxState) -> web.Application:
    sub = web.Application()
    sub[STATE_KEY] = state
    sub.router.add_get("/protocols", _wrap(protocols))
    sub.router.add_get("/protocol/{slug}", _wrap(protocol))
    sub.router.add_get("/stablecoins", _wrap(stablecoins))
    sub.router.add_get("/stablecoincharts/{chain}", _wrap(stablecoin_chart))
    sub.router.add_get("/stablecoinprices", _wrap(stablecoin_prices))
    sub.router.add_get("/_sandbox/truth", _wrap(sandbox_truth))
    return sub
