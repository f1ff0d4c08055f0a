"""Pure parsers: one Binance forceOrder or Bybit allLiquidation message -> rows in the lake `liquidations` schema.

Both parsers return [] for control replies (subscribe acks, pongs) and skip symbols outside the instrument table
(Binance's `!forceOrder@arr` carries every symbol). A liquidation message missing a field raises StreamParseError.
"""

from __future__ import annotations

import json
from typing import Any

from pipelines.instruments import INSTRUMENTS

SOURCE = "stream"


class StreamParseError(ValueError):
    """A liquidation message that does not have the documented shape."""


def configured_symbols(venue: str) -> dict[str, str]:
    """venue symbol -> asset, for every configured instrument."""
    return {inst.symbol(venue): inst.asset for inst in INSTRUMENTS}


def _loads(message: str | bytes | dict) -> dict:
    body = message
    if isinstance(message, str | bytes):
        try:
            body = json.loads(message)
        except ValueError as exc:
            raise StreamParseError(f"not JSON: {str(message)[:120]!r}") from exc
    if not isinstance(body, dict):
        raise StreamParseError(f"expected a JSON object, got {type(body).__name__}")
    return body


def _number(record: dict, name: str, where: str) -> float:
    try:
        return float(record[name])
    except KeyError:
        raise StreamParseError(f"{where}: missing field {name!r} in {record}") from None
    except (TypeError, ValueError):
        raise StreamParseError(f"{where}: field {name!r} is not a number: {record[name]!r}") from None


def _int(record: dict, name: str, where: str) -> int:
    value = record.get(name)
    if not isinstance(value, int) or isinstance(value, bool):
        raise StreamParseError(f"{where}: field {name!r} must be an integer ms timestamp, got {value!r}")
    return value


def _field(record: dict, name: str, where: str) -> Any:
    try:
        return record[name]
    except KeyError:
        raise StreamParseError(f"{where}: missing field {name!r} in {record}") from None


def parse_binance(message: str | bytes | dict, symbols: dict[str, str] | None = None) -> list[dict]:
    """A forceOrder payload, raw or wrapped as {stream, data}. S=SELL closes a long: the long was liquidated."""
    body = _loads(message)
    if "data" in body and "stream" in body:
        body = body["data"]
        if not isinstance(body, dict):
            raise StreamParseError("binance: the combined stream's 'data' must be an object")
    if body.get("e") != "forceOrder":
        if "result" in body or "error" in body:
            return []  # a SUBSCRIBE / UNSUBSCRIBE reply
        raise StreamParseError(f"binance: not a forceOrder event: {str(body)[:200]}")
    order = _field(body, "o", "binance forceOrder")
    if not isinstance(order, dict):
        raise StreamParseError("binance forceOrder: field 'o' must be an object")
    symbol = _field(order, "s", "binance forceOrder")
    asset = (symbols or configured_symbols("binance")).get(symbol)
    if asset is None:
        return []
    order_side = _field(order, "S", "binance forceOrder")
    quantity = _field(order, "q", "binance forceOrder")
    if order_side not in ("SELL", "BUY"):
        raise StreamParseError(f"binance forceOrder: side S must be SELL or BUY, got {order_side!r}")
    ts = _int(order, "T", "binance forceOrder")
    filled, avg_price = _number(order, "z", "binance forceOrder"), _number(order, "ap", "binance forceOrder")
    return [
        {
            "venue": "binance",
            "asset": asset,
            "symbol": symbol,
            "ts": ts,
            "side": "long" if order_side == "SELL" else "short",
            "price": avg_price,
            "qty_coin": filled,
            "notional_usd": filled * avg_price,  # VENUES.md: notional = z x ap
            "source": SOURCE,
            "event_key": f"{symbol}:{ts}:{order_side}:{quantity}:{order['ap']}",
            "raw": json.dumps(body, separators=(",", ":"), sort_keys=True),
        }
    ]


def parse_bybit(message: str | bytes | dict, symbols: dict[str, str] | None = None) -> list[dict]:
    """An allLiquidation push: every event of a 500 ms batch. S=Buy means a long position was liquidated."""
    body = _loads(message)
    topic = body.get("topic")
    if topic is None:
        if "op" in body or "success" in body:
            return []  # subscribe ack or pong
        raise StreamParseError(f"bybit: neither a topic push nor an op reply: {str(body)[:200]}")
    if not str(topic).startswith("allLiquidation."):
        raise StreamParseError(f"bybit: unexpected topic {topic!r}")
    data = _field(body, "data", "bybit allLiquidation")
    if not isinstance(data, list):
        raise StreamParseError("bybit allLiquidation: field 'data' must be a list")
    known = symbols or configured_symbols("bybit")
    rows = []
    for item in data:
        where = "bybit allLiquidation item"
        if not isinstance(item, dict):
            raise StreamParseError(f"{where}: expected an object, got {str(item)[:120]!r}")
        symbol = _field(item, "s", where)
        asset = known.get(symbol)
        if asset is None:
            continue
        side = _field(item, "S", where)
        if side not in ("Buy", "Sell"):
            raise StreamParseError(f"{where}: side S must be Buy or Sell, got {side!r}")
        ts = _int(item, "T", where)
        qty, price = _number(item, "v", where), _number(item, "p", where)
        rows.append(
            {
                "venue": "bybit",
                "asset": asset,
                "symbol": symbol,
                "ts": ts,
                "side": "long" if side == "Buy" else "short",
                "price": price,  # the bankruptcy price
                "qty_coin": qty,
                "notional_usd": qty * price,
                "source": SOURCE,
                "event_key": f"{symbol}:{ts}:{side}:{item['v']}:{item['p']}",
                "raw": json.dumps(item, separators=(",", ":"), sort_keys=True),
            }
        )
    return rows


def message_time_ms(venue: str, message: dict) -> int | None:
    """The venue's push time (Binance E, Bybit ts): how far the stream has been seen."""
    if venue == "binance":
        body = message.get("data", message)
        value = body.get("E") if isinstance(body, dict) else None
    else:
        value = message.get("ts")
    return value if isinstance(value, int) else None


PARSERS = {"binance": parse_binance, "bybit": parse_bybit}
# The liquidation streams levwatch records, named once: the recorder, its compaction assets, the demo harness and
# the summary read this
STREAM_VENUES = tuple(PARSERS)
