"""Deribit public JSON-RPC over GET, over the simulated market: option book summaries and perpetual funding.

The route only renders: the answers are the models in pipelines/sandbox/options.py (`option_chain`,
`funding_history`, pure functions of the market and the sandbox clock; its docstring lists the sandbox's choices).
Envelopes are {"jsonrpc": "2.0", "result": ..., "usIn", "usOut", "usDiff", "testnet"}; errors are {"jsonrpc":
"2.0", "error": {"code", "message", "data"?}}: -32602 for missing or bad params (HTTP 400) and 10028
too_many_requests (HTTP 429) past 20 requests a second (both statuses UNCONFIRMED). Numbers are JSON numbers and
missing values `null`, as in the recording.
"""

from __future__ import annotations

import time

from aiohttp import web

from pipelines.sandbox.options import funding_history, option_chain
from pipelines.sandbox.serving import STATE_KEY, SandboxState, apply_faults, json_response, state_of
from pipelines.sandbox.status import locked

VENUE = "deribit"
API = "/api/v2/public"
CURRENCIES = ("BTC", "ETH", "USDC", "USDT", "EURR")
KINDS = ("future", "option", "spot", "future_combo", "option_combo")
PERPETUALS = {"BTC-PERPETUAL": "BTC", "ETH-PERPETUAL": "ETH"}
REQUESTS_PER_SECOND = 20
INVALID_PARAMS, TOO_MANY_REQUESTS = -32602, 10028


class RpcError(Exception):
    def __init__(self, code: int, message: str, status: int, data: dict | None = None):
        super().__init__(message)
        self.code, self.message, self.status, self.data = code, message, status, data


def error_body(status: int, msg: str) -> dict:
    code = TOO_MANY_REQUESTS if status == 429 else 11094 if status >= 500 else INVALID_PARAMS
    message = "too_many_requests" if status == 429 else msg
    return {"jsonrpc": "2.0", "error": {"code": code, "message": message}, "testnet": False}


def _envelope(result, started: float) -> web.Response:
    us_in = int(started * 1_000_000)
    us_out = int(time.time() * 1_000_000)
    return json_response(
        {
            "jsonrpc": "2.0",
            "result": result,
            "usIn": us_in,
            "usOut": us_out,
            "usDiff": us_out - us_in,
            "testnet": False,
        }
    )


def _param(request: web.Request, name: str, choices: tuple[str, ...] | None = None) -> str:
    value = request.query.get(name)
    if value is None or value == "":
        raise RpcError(INVALID_PARAMS, "Invalid params", 400, {"reason": "required", "param": name})
    if choices is not None and value not in choices:
        raise RpcError(
            INVALID_PARAMS,
            "Invalid params",
            400,
            {"reason": f"must be one of {list(choices)}", "param": name},
        )
    return value


def _int_param(request: web.Request, name: str) -> int:
    value = _param(request, name)
    try:
        return int(value)
    except ValueError:
        raise RpcError(
            INVALID_PARAMS, "Invalid params", 400, {"reason": "must be integer", "param": name}
        ) from None


def _wrap(handler):
    async def route(request: web.Request) -> web.StreamResponse:
        fault = await apply_faults(request, VENUE, error_body)
        if fault is not None:
            return fault
        started = time.time()
        state = state_of(request)
        try:
            if state.spend(VENUE, "credits", 1, REQUESTS_PER_SECOND, 1.0) is not None:
                raise RpcError(TOO_MANY_REQUESTS, "too_many_requests", 429)
            return _envelope(handler(request, state), started)
        except RpcError as exc:
            error = {"message": exc.message, "code": exc.code} | ({"data": exc.data} if exc.data else {})
            return json_response({"jsonrpc": "2.0", "error": error, "testnet": False}, status=exc.status)

    return route


def book_summary_by_currency(request: web.Request, state: SandboxState) -> list[dict]:
    currency = _param(request, "currency", CURRENCIES)
    kind = request.query.get("kind") or None
    if kind is not None and kind not in KINDS:
        raise RpcError(
            INVALID_PARAMS,
            "Invalid params",
            400,
            {"reason": f"must be one of {list(KINDS)}", "param": "kind"},
        )
    if kind not in (None, "option"):
        return []  # only options are simulated
    return option_chain(state.market, currency, state.clock_ms)


def funding_rate_history(request: web.Request, state: SandboxState) -> list[dict]:
    instrument = _param(request, "instrument_name")
    start, end = _int_param(request, "start_timestamp"), _int_param(request, "end_timestamp")
    currency = PERPETUALS.get(instrument)
    if currency is None:
        raise RpcError(
            INVALID_PARAMS,
            "Invalid params",
            400,
            {"reason": "instrument not found", "param": "instrument_name"},
        )
    return funding_history(state.market, currency, start, end, state.clock_ms)


def status(request: web.Request, state: SandboxState) -> dict:
    """public/status in the documented schema's shape: `locked` a string, `locked_indices` a list."""
    value = locked(state.market.scenario, VENUE, state.clock_ms)
    return {"locked": value, "locked_indices": ["btc_usd", "eth_usd"] if value == "true" else []}


def app(state: SandboxState) -> web.Application:
    sub = web.Application()
    sub[STATE_KEY] = state
    sub.router.add_get(f"{API}/get_book_summary_by_currency", _wrap(book_summary_by_currency))
    sub.router.add_get(f"{API}/get_funding_rate_history", _wrap(funding_rate_history))
    sub.router.add_get(f"{API}/status", _wrap(status))
    return sub
