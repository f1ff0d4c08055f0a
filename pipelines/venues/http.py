"""The shared venue HTTP client: timeouts, retries with jitter, Retry-After, a ban breaker, api_health rows.

Every request's outcome is recorded as an ApiCall; the ingest layer writes them to raw/<venue>/api_health,
which later serves as the outage signal.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt

from pipelines.lib.clock import WALL_CLOCK, Clock
from pipelines.lib.numbers import PayloadError
from pipelines.lib.retry_after import retry_after_seconds

# A venue's Retry-After is obeyed up to these caps: a 429 asking for more than MAX_RETRY_AFTER_S is not slept
# through (the request fails now and says so), and a ban holds the breaker open for at most MAX_BAN_S (Binance's
# longest documented ban is 3 days), so a bogus header cannot stall a step or lock a venue out for good.
MAX_RETRY_AFTER_S = 300.0
MAX_BAN_S = 3 * 86_400.0


class VenueError(RuntimeError):
    """The venue answered with an error we cannot fix by retrying."""

    def __init__(
        self, venue: str, endpoint: str, message: str, *, status: int | None = None, code: Any = None
    ):
        self.venue, self.endpoint, self.status, self.code = venue, endpoint, status, code
        where = f"{venue} {endpoint}"
        detail = f" (HTTP {status}" + (f", code {code}" if code is not None else "") + ")" if status else ""
        super().__init__(f"{where}: {message}{detail}")


class VenueBannedError(VenueError):
    """418/403 ban: the breaker is open and we refuse to send more requests until it expires."""


class VenueUnavailableError(VenueError):
    """Retries exhausted on 5xx, timeouts, rate limits or broken bodies."""


class RetryableError(Exception):
    def __init__(self, message: str, *, retry_after_s: float | None = None, status: int | None = None):
        super().__init__(message)
        self.retry_after_s = retry_after_s
        self.status = status


@dataclass(frozen=True)
class ApiCall:
    venue: str
    endpoint: str
    method: str
    requested_at_ms: int
    status: int | None
    latency_ms: float
    attempt: int
    ok: bool
    error: str | None


ErrorCheck = Callable[[httpx.Response, Any], None]
"""Venue hook: raise VenueError / RetryableError for an error envelope inside an HTTP 200 body."""

ResponseCheck = Callable[[httpx.Response], None]
"""Venue hook run before status handling: a venue that answers a permanent refusal with a 5xx can say so."""


class BanBreakers:
    """Ban state per (venue, base URL): one ban stops every client of that venue.

    In memory for this process, and, given a ban directory, in one file per venue and base URL with the ban's
    expiry (epoch seconds): Dagster's multiprocess executor runs each step in its own process, so sibling steps
    of a run and the next scheduled run read the same file and do not extend the ban by calling again."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        # epoch seconds on the wall, whatever the market's Clock: a ban lasts real time, and its file is read by
        # other processes
        self._lock = threading.Lock()
        self._until: dict[tuple[str, str], tuple[float, str]] = {}
        self._clock = clock

    @staticmethod
    def ban_file(ban_dir: Path, key: tuple[str, str]) -> Path:
        venue, base_url = key
        return ban_dir / f"{venue}-{hashlib.sha256(base_url.encode()).hexdigest()[:12]}.json"

    def check(self, key: tuple[str, str], ban_dir: Path | None = None) -> str | None:
        now = self._clock()
        with self._lock:
            entries = [self._until[key]] if key in self._until else []
        if ban_dir is not None:
            shared = _read_ban(self.ban_file(ban_dir, key))
            if shared is not None:
                entries.append(shared)
        open_bans = [entry for entry in entries if entry[0] > now]
        if not open_bans:
            return None
        until, reason = max(open_bans)
        if until == float("inf"):
            return reason
        moment = datetime.fromtimestamp(until, UTC).isoformat(timespec="seconds")
        return f"{reason}; breaker open for another {until - now:.0f}s (until {moment})"

    def trip(self, key: tuple[str, str], seconds: float, reason: str, ban_dir: Path | None = None) -> None:
        until = self._clock() + seconds
        with self._lock:
            if key not in self._until or self._until[key][0] < until:
                self._until[key] = (until, reason)
        if ban_dir is None:
            return
        path = self.ban_file(ban_dir, key)
        earlier = _read_ban(path)
        if earlier is not None and earlier[0] >= until:  # a longer ban is already on record
            return
        ban_dir.mkdir(parents=True, exist_ok=True)
        body = {
            "venue": key[0],
            "base_url": key[1],
            "until_epoch_s": until,
            "until_utc": datetime.fromtimestamp(until, UTC).isoformat(timespec="seconds"),
            "reason": reason,
        }
        fd, tmp = tempfile.mkstemp(prefix=".ban-", suffix=".json", dir=ban_dir)
        try:
            with os.fdopen(fd, "w") as fh:
                json.dump(body, fh)
            os.replace(tmp, path)  # readers see the old ban or the new one, never half a file
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def reset(self) -> None:
        with self._lock:
            self._until.clear()


def _read_ban(path: Path) -> tuple[float, str] | None:
    try:
        body = json.loads(path.read_text())
        return float(body["until_epoch_s"]), str(body["reason"])
    except FileNotFoundError:
        return None
    except (
        OSError,
        ValueError,
        KeyError,
        TypeError,
    ):  # not a ban file levwatch wrote: say so, never ignore it
        return float("inf"), f"unreadable ban file {path}: delete it if no ban is in force"


BREAKERS = BanBreakers()


class WeightLimiter:
    """Sliding-window request-weight budget, so we stay under a venue's published limit instead of hitting it.

    A request's weight is reserved before it is sent and re-stamped when its answer is in (settle): the venue
    counts a request when it arrives, which is after we reserved it, so the window restarts from the later time.
    Otherwise a slow first request and a fast later one can land less than a window apart at the venue."""

    def __init__(
        self,
        capacity: int,
        window_s: float,
        *,
        clock: Clock = WALL_CLOCK,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.capacity, self.window_s = capacity, window_s
        self.clock = clock  # windows count clock.monotonic_s(): a replay's moves elapse them
        self._sleep = sleep
        self._spent: deque[list] = deque()  # [time, weight] per request in the window
        self._lock = threading.Lock()

    def _expire(self, now: float) -> None:
        # settled reservations can be later than ones behind them: filter, do not just pop the front
        if any(t <= now - self.window_s for t, _ in self._spent):
            self._spent = deque(entry for entry in self._spent if entry[0] > now - self.window_s)

    def observe(self, used: int) -> None:
        """Align with the venue's own count (from a usage header): weight spent elsewhere counts too."""
        with self._lock:
            now = self.clock.monotonic_s()
            self._expire(now)
            missing = used - sum(w for _, w in self._spent)
            if missing > 0:
                self._spent.append([now, missing])

    def acquire(self, weight: int = 1) -> list:
        """Wait until `weight` fits in the window, reserve it, and return the reservation for settle()."""
        weight = min(weight, self.capacity)
        while True:
            with self._lock:
                now = self.clock.monotonic_s()
                self._expire(now)
                used = sum(w for _, w in self._spent)
                if used + weight <= self.capacity:
                    reservation = [now, weight]
                    self._spent.append(reservation)
                    return reservation
                wait = min(t for t, _ in self._spent) + self.window_s - now
            self._sleep(max(wait, 0.01))

    def settle(self, reservation: list) -> None:
        """The request is answered: count it from now, the latest moment the venue can have counted it."""
        with self._lock:
            reservation[0] = max(reservation[0], self.clock.monotonic_s())


class VenueHttp:
    def __init__(
        self,
        venue: str,
        base_url: str,
        *,
        timeout_s: float = 10.0,
        max_attempts: int = 5,
        backoff_base_s: float = 0.5,
        backoff_cap_s: float = 30.0,
        rate_limit_default_s: float = 60.0,
        ban_default_s: float = 120.0,
        ban_statuses: tuple[int, ...] = (418,),
        error_check: ErrorCheck | None = None,
        response_check: ResponseCheck | None = None,
        usage_header: str | None = None,
        limiter: WeightLimiter | None = None,
        ban_dir: Path | None = None,
        max_retry_after_s: float = MAX_RETRY_AFTER_S,
        max_ban_s: float = MAX_BAN_S,
        clock: Clock = WALL_CLOCK,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ):
        self.venue = venue
        self.base_url = base_url.rstrip("/")
        self.max_attempts = max_attempts
        self.backoff_base_s, self.backoff_cap_s = backoff_base_s, backoff_cap_s
        self.rate_limit_default_s = rate_limit_default_s
        self.ban_default_s = ban_default_s
        self.ban_statuses = ban_statuses
        self.error_check = error_check
        self.response_check = response_check
        self.usage_header = usage_header
        self.limiter = limiter
        self.ban_dir = ban_dir  # shared with every process of this LEVWATCH_HOME; None: this process only
        self.max_retry_after_s, self.max_ban_s = max_retry_after_s, max_ban_s
        self._sleep = sleep
        # what stamps each api_health row's requested_at (clock.now_ms()): the wall clock live, the sandbox's in
        # sandbox mode, a replay's driven clock in a replay, so the log lines up with the market it asked
        # (latency is always measured for real)
        self.clock = clock
        self.calls: list[ApiCall] = []
        self._client = httpx.Client(
            timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 5.0)),
            headers={
                "User-Agent": "levwatch/0.1 (+https://github.com/levwatch)",
                "Accept": "application/json",
            },
            transport=transport,
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> VenueHttp:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def drain_calls(self) -> list[ApiCall]:
        calls, self.calls = self.calls, []
        return calls

    # -- public API ---------------------------------------------------------------------------------

    def get_json(self, path: str, params: dict[str, Any] | None = None, *, weight: int = 1) -> Any:
        return self._request("GET", path, params=params, body=None, weight=weight)

    def post_json(self, path: str, body: dict[str, Any], *, weight: int = 1) -> Any:
        return self._request("POST", path, params=None, body=body, weight=weight)

    # -- internals ----------------------------------------------------------------------------------

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, RetryableError) and exc.retry_after_s is not None:
            return exc.retry_after_s
        if isinstance(exc, RetryableError) and exc.status == 429:
            return self.rate_limit_default_s
        # capped exponential backoff with full jitter
        ceiling = min(self.backoff_cap_s, self.backoff_base_s * (2 ** (state.attempt_number - 1)))
        return random.uniform(0, ceiling)

    def _request(self, method: str, path: str, *, params, body, weight: int) -> Any:
        endpoint = path
        key = (self.venue, self.base_url)
        clean_params = {k: v for k, v in (params or {}).items() if v is not None}
        retrying = Retrying(
            stop=stop_after_attempt(self.max_attempts),
            wait=self._wait,
            retry=retry_if_exception_type(RetryableError),
            sleep=self._sleep,
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    return self._attempt(
                        method, endpoint, clean_params, body, weight, key, attempt.retry_state.attempt_number
                    )
        except RetryableError as exc:
            raise VenueUnavailableError(
                self.venue, endpoint, f"gave up after {self.max_attempts} attempts: {exc}", status=exc.status
            ) from exc
        raise AssertionError("unreachable")

    def _attempt(self, method, endpoint, params, body, weight, key, attempt_no) -> Any:
        banned = BREAKERS.check(key, self.ban_dir)
        if banned:
            raise VenueBannedError(self.venue, endpoint, f"refusing to call a banned venue: {banned}")
        reservation = self.limiter.acquire(weight) if self.limiter else None
        try:
            started_wall = self.clock.now_ms()
            started = time.perf_counter()
            status: int | None = None
            try:
                response = self._client.request(
                    method,
                    self.base_url + endpoint,
                    params=params or None,
                    content=json.dumps(body) if body is not None else None,
                    headers={"Content-Type": "application/json"} if body is not None else None,
                )
                status = response.status_code
                payload = self._handle(response, endpoint, key)
            except httpx.TimeoutException as exc:
                self._record(
                    endpoint,
                    method,
                    started_wall,
                    started,
                    status,
                    attempt_no,
                    f"timeout: {type(exc).__name__}",
                )
                raise RetryableError(f"timed out ({type(exc).__name__})") from exc
            except httpx.TransportError as exc:
                self._record(endpoint, method, started_wall, started, status, attempt_no, f"transport: {exc}")
                raise RetryableError(f"connection problem: {exc}") from exc
            except (RetryableError, VenueError, PayloadError) as exc:
                self._record(endpoint, method, started_wall, started, status, attempt_no, str(exc))
                raise
            self._record(endpoint, method, started_wall, started, status, attempt_no, None)
            return payload
        finally:
            if reservation is not None:
                self.limiter.settle(reservation)

    def _handle(self, response: httpx.Response, endpoint: str, key) -> Any:
        status = response.status_code
        if self.usage_header and self.limiter:
            used = response.headers.get(self.usage_header)
            if used and used.isdigit():
                self.limiter.observe(int(used))
        if self.response_check:
            self.response_check(response)
        retry_after = retry_after_seconds(response.headers.get("retry-after"), time.time())
        if status in self.ban_statuses:
            seconds = min(retry_after or self.ban_default_s, self.max_ban_s)
            reason = f"{self.venue} banned this IP (HTTP {status}): {_short(response.text)}"
            BREAKERS.trip(key, seconds, reason, self.ban_dir)
            raise VenueBannedError(
                self.venue, endpoint, reason + f"; not retrying for {seconds:.0f}s", status=status
            )
        if status == 429:
            if retry_after is not None and retry_after > self.max_retry_after_s:
                raise VenueUnavailableError(
                    self.venue,
                    endpoint,
                    f"rate limited and asked to wait {retry_after:.0f}s, longer than the "
                    f"{self.max_retry_after_s:.0f}s a request waits: try again later",
                    status=429,
                )
            raise RetryableError(
                f"rate limited (HTTP 429): {_short(response.text)}", retry_after_s=retry_after, status=429
            )
        if status >= 500:
            raise RetryableError(f"server error (HTTP {status}): {_short(response.text)}", status=status)
        try:
            payload = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            if status >= 400:
                raise VenueError(self.venue, endpoint, _short(response.text), status=status) from exc
            # a cut-off body is transient: retry it
            raise RetryableError(
                f"malformed or truncated JSON body ({len(response.content)} bytes)", status=status
            ) from exc
        if self.error_check:
            self.error_check(response, payload)
        if status >= 400:
            raise VenueError(self.venue, endpoint, _short(response.text), status=status)
        return payload

    def _record(self, endpoint, method, started_wall, started, status, attempt, error) -> None:
        self.calls.append(
            ApiCall(
                venue=self.venue,
                endpoint=endpoint,
                method=method,
                requested_at_ms=started_wall,
                status=status,
                latency_ms=round((time.perf_counter() - started) * 1000, 3),
                attempt=attempt,
                ok=error is None,
                error=error,
            )
        )


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "…"
