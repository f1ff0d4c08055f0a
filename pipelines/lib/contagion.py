"""Daily contagion figures over long tables: rolling Diebold-Yilmaz spillover on an hourly panel, and lead-lag of
venue pairs on a minute panel. Pure numpy; the dbt Python models call these with rows read from the warehouse.

Spillover of day d: the VAR is fitted on the `window_hours` hours ending at d's end (d 23:00 is the last hour).
A node (venue:asset) takes part when its series has a value in every hour of the window and varies (a gap is
never bridged: the node sits out the days whose window holds it). The window is shorter where the data start or
end inside it (the lake's first days, today); a day needs `min_hours` hours of window and two taking part nodes,
else it has no figure and says why in `note`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np

from pipelines.lib.spillover import lead_lag, usable_columns, var_spillover

HOUR_MS = 3_600_000
MINUTE_MS = 60_000
DAY_MS = 86_400_000


@dataclass(frozen=True)
class SpilloverSettings:
    window_hours: int = 168  # 7 days of hourly observations per VAR
    lags: int = 1  # VAR lag order (hours)
    horizon: int = 10  # forecast horizon of the variance decomposition (hours), as Diebold-Yilmaz's 10 steps
    min_hours: int = 72  # fewer usable hours in the window: no figure for the day

    def __post_init__(self):
        if self.window_hours < 2 or self.lags < 1 or self.horizon < 1 or self.min_hours < 2:
            raise ValueError(f"spillover settings out of range: {self}")


@dataclass(frozen=True)
class DaySpillover:
    date: date
    total: float | None
    nodes: tuple[str, ...] = ()
    to_others: tuple[float, ...] = ()
    from_others: tuple[float, ...] = ()
    net: tuple[float, ...] = ()
    hours: int = 0
    note: str = ""


@dataclass
class HourPanel:
    """Values of several nodes on one hour grid (NaN where a node has no value)."""

    start_ms: int
    nodes: list[str]
    values: np.ndarray  # (hours, nodes)
    grid_ms: np.ndarray = field(init=False)

    def __post_init__(self):
        self.grid_ms = self.start_ms + np.arange(self.values.shape[0], dtype=np.int64) * HOUR_MS


def hour_panel(node: list[str], ts_ms: np.ndarray, value: np.ndarray, *, fill_inside: float | None = None):
    """A long table (node, hour start in ms, value) as a panel. fill_inside: the value of an hour with no row
    between a node's first and last row (0 for liquidation volumes: no event is no liquidation); None leaves NaN."""
    ts_ms = np.asarray(ts_ms, dtype=np.int64)
    value = np.asarray(value, dtype=float)
    if len(ts_ms) == 0:
        return HourPanel(0, [], np.zeros((0, 0)))
    if np.any(ts_ms % HOUR_MS):
        raise ValueError("hour_panel: timestamps must be whole hours")
    names = sorted(set(node))
    col = {n: i for i, n in enumerate(names)}
    start = int(ts_ms.min())
    rows = ((ts_ms - start) // HOUR_MS).astype(int)
    panel = np.full((int(rows.max()) + 1, len(names)), np.nan)
    cols = np.array([col[n] for n in node], dtype=int)
    if fill_inside is not None:
        for c in range(len(names)):
            mine = rows[cols == c]
            panel[mine.min() : mine.max() + 1, c] = fill_inside
    panel[rows, cols] = value
    return HourPanel(start, names, panel)


def daily_spillover(panel: HourPanel, days: list[date], settings: SpilloverSettings) -> list[DaySpillover]:
    out = []
    for day in days:
        end_ms = _day_ms(day) + DAY_MS
        lo = (end_ms - settings.window_hours * HOUR_MS - panel.start_ms) // HOUR_MS
        hi = (end_ms - panel.start_ms) // HOUR_MS
        window = panel.values[max(lo, 0) : max(hi, 0)]
        out.append(_window_spillover(day, window, panel.nodes, settings))
    return out


def _window_spillover(day: date, window: np.ndarray, nodes: list[str], settings: SpilloverSettings):
    if window.shape[0] < settings.min_hours:
        return DaySpillover(day, None, hours=window.shape[0], note="too few hours in the window")
    complete = np.all(np.isfinite(window), axis=0) & usable_columns(window)
    if complete.sum() < 2:
        return DaySpillover(day, None, hours=window.shape[0], note="fewer than two complete, varying series")
    data = window[:, complete]
    names = [n for n, keep in zip(nodes, complete, strict=True) if keep]
    try:
        s = var_spillover(data, names, settings.lags, settings.horizon)
    except (ValueError, np.linalg.LinAlgError) as exc:
        return DaySpillover(day, None, hours=data.shape[0], note=f"VAR failed: {exc}")
    if not np.isfinite(s.total):
        return DaySpillover(day, None, hours=data.shape[0], note="VAR gave a non-finite decomposition")
    return DaySpillover(
        day,
        s.total,
        nodes=s.nodes,
        to_others=tuple(map(float, s.to_others)),
        from_others=tuple(map(float, s.from_others)),
        net=tuple(map(float, s.net)),
        hours=data.shape[0],
    )


def _day_ms(day: date) -> int:
    return (day - date(1970, 1, 1)).days * DAY_MS


def days_in(first_ms: int, last_ms: int) -> list[date]:
    first = date(1970, 1, 1) + timedelta(days=first_ms // DAY_MS)
    last = date(1970, 1, 1) + timedelta(days=last_ms // DAY_MS)
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


@dataclass(frozen=True)
class PairLeadLag:
    date: date
    asset: str
    venue_a: str
    venue_b: str
    best_lag_minutes: int  # > 0: venue_a leads venue_b by that many minutes
    correlation: float
    minutes: int


def daily_lead_lag(
    asset: list[str],
    venue: list[str],
    ts_ms: np.ndarray,
    value: np.ndarray,
    max_lag: int,
    min_pairs: int,
    fill_missing: float | None = None,
) -> list[PairLeadLag]:
    """Per day, asset and venue pair (venue_a < venue_b by name): the lag within +-max_lag minutes maximising the
    correlation of venue_a's series at t with venue_b's at t + lag, on that day's minute grid. fill_missing: the
    value of a minute with no row on a day the venue has rows (0 for liquidation volumes); None leaves a gap."""
    asset_names, asset_code = np.unique(np.asarray(asset, dtype=str), return_inverse=True)
    venue_names, venue_code = np.unique(np.asarray(venue, dtype=str), return_inverse=True)
    return _daily_lead_lag_coded(
        (asset_names, asset_code), (venue_names, venue_code), ts_ms, value, max_lag, min_pairs, fill_missing
    )


def _daily_lead_lag_coded(
    assets: tuple[np.ndarray, np.ndarray],
    venues: tuple[np.ndarray, np.ndarray],
    ts_ms: np.ndarray,
    value: np.ndarray,
    max_lag: int,
    min_pairs: int,
    fill_missing: float | None,
) -> list[PairLeadLag]:
    """daily_lead_lag on names given as (distinct names, each row's index into them), in any order of names."""
    (asset_names, asset_code), (venue_names, venue_code) = assets, venues
    ts_ms = np.asarray(ts_ms, dtype=np.int64)
    value = np.asarray(value, dtype=float)
    if np.any(ts_ms % MINUTE_MS):
        raise ValueError("daily_lead_lag: timestamps must be whole minutes")
    day_idx = ts_ms // DAY_MS
    order = np.lexsort((venue_code, day_idx, asset_code))
    key = np.stack([asset_code[order], day_idx[order], venue_code[order]], axis=1)
    # contiguous runs of one (asset, day, venue)
    starts = np.r_[0, np.nonzero(np.any(np.diff(key, axis=0) != 0, axis=1))[0] + 1]
    ends = np.r_[starts[1:], len(order)]
    groups: dict[tuple[str, int], dict[str, np.ndarray]] = {}
    for lo, hi in zip(starts, ends, strict=True):
        if hi <= lo:
            continue
        a, d, v = asset_names[key[lo, 0]], int(key[lo, 1]), venue_names[key[lo, 2]]
        idx = order[lo:hi]
        grid = np.full(1440, np.nan if fill_missing is None else fill_missing)
        grid[(ts_ms[idx] - d * DAY_MS) // MINUTE_MS] = value[idx]
        groups.setdefault((str(a), d), {})[str(v)] = grid
    out = []
    for (a, d), series in sorted(groups.items()):
        venues = sorted(series)
        for i, va in enumerate(venues):
            for vb in venues[i + 1 :]:
                found = lead_lag(series[va], series[vb], max_lag, min_pairs)
                if found is not None:
                    day = date(1970, 1, 1) + timedelta(days=d)
                    out.append(PairLeadLag(day, a, va, vb, found.lag, found.correlation, found.pairs))
    return out


# -- long tables in and out (what the dbt Python models hand over) ---------------------------------------------

SPILLOVER_SCHEMA_FIELDS = (
    ("date", "date32"),
    ("measure", "string"),
    ("node", "string"),
    ("total_spillover_index", "float64"),
    ("to_others", "float64"),
    ("from_others", "float64"),
    ("net", "float64"),
    ("nodes_in_var", "int32"),
    ("window_hours_used", "int32"),
    ("note", "string"),
)
LIQUIDATION_MEASURES = ("liquidations",)  # volumes: an hour or minute without a row is a zero, not a gap


def _schema(fields):
    import pyarrow as pa

    types = {"date32": pa.date32(), "string": pa.string(), "float64": pa.float64(), "int32": pa.int32()}
    return pa.schema([(name, types[t]) for name, t in fields])


def _coded(column) -> tuple[np.ndarray, np.ndarray]:
    """A string column as (its distinct values, each row's index into them); a null name is refused."""
    import pyarrow as pa

    if column.null_count:
        raise ValueError(f"lead-lag input: {column.null_count} null names")
    encoded = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if not pa.types.is_dictionary(encoded.type):
        encoded = encoded.dictionary_encode()
    names = np.asarray(encoded.dictionary.to_pylist(), dtype=object)
    return names, encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)


def _epoch_ms(column) -> np.ndarray:
    """Naive (UTC) or zoned timestamps of any unit as epoch milliseconds."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_timestamp(column.type) and column.type.unit != "ms":
        column = pc.cast(column, pa.timestamp("ms", column.type.tz))
    return np.asarray(pc.cast(column, pa.int64()).to_numpy(zero_copy_only=False), dtype=np.int64)


def spillover_table(series, settings: SpilloverSettings):
    """Long table (measure, node, ts, value) of hourly values -> one row per day, measure and node of the VAR
    (node null, with a note, on a day without a figure)."""
    import pyarrow as pa

    rows: dict[str, list] = {name: [] for name, _ in SPILLOVER_SCHEMA_FIELDS}
    measures = series["measure"].to_pylist()
    nodes = series["node"].to_pylist()
    ts = _epoch_ms(series["ts"])
    values = series["value"].to_numpy(zero_copy_only=False).astype(float)
    measure_arr = np.asarray(measures, dtype=object)
    for measure in sorted(set(measures)):
        sel = np.nonzero(measure_arr == measure)[0]
        panel = hour_panel(
            [nodes[i] for i in sel],
            ts[sel],
            values[sel],
            fill_inside=0.0 if measure in LIQUIDATION_MEASURES else None,
        )
        for day in daily_spillover(panel, days_in(int(ts[sel].min()), int(ts[sel].max())), settings):
            entries = list(zip(day.nodes, day.to_others, day.from_others, day.net, strict=True)) or [
                (None, None, None, None)
            ]
            for node, to, frm, net in entries:
                rows["date"].append(day.date)
                rows["measure"].append(measure)
                rows["node"].append(node)
                rows["total_spillover_index"].append(day.total)
                rows["to_others"].append(to)
                rows["from_others"].append(frm)
                rows["net"].append(net)
                rows["nodes_in_var"].append(len(day.nodes))
                rows["window_hours_used"].append(day.hours)
                rows["note"].append(day.note or None)
    return pa.table(rows, schema=_schema(SPILLOVER_SCHEMA_FIELDS))


LEAD_LAG_SCHEMA_FIELDS = (
    ("date", "date32"),
    ("measure", "string"),
    ("asset", "string"),
    ("venue_a", "string"),
    ("venue_b", "string"),
    ("best_lag_minutes", "int32"),
    ("correlation", "float64"),
    ("minutes", "int32"),
)


def lead_lag_table(series, max_lag: int, min_minutes: int):
    """Long table (measure, venue, asset, ts, value) of minute values -> one row per day, measure, asset and venue
    pair with enough minutes."""
    import pyarrow as pa

    rows: dict[str, list] = {name: [] for name, _ in LEAD_LAG_SCHEMA_FIELDS}
    # names as dictionary codes: millions of rows carry a handful of names (a Python string per row cost seconds)
    measure_names, measure_code = _coded(series["measure"])
    venue_names, venue_code = _coded(series["venue"])
    asset_names, asset_code = _coded(series["asset"])
    ts = _epoch_ms(series["ts"])
    values = series["value"].to_numpy(zero_copy_only=False).astype(float)
    for code in np.argsort(measure_names):
        measure = str(measure_names[code])
        sel = measure_code == code
        pairs = _daily_lead_lag_coded(
            (asset_names, asset_code[sel]),
            (venue_names, venue_code[sel]),
            ts[sel],
            values[sel],
            max_lag,
            min_minutes,
            fill_missing=0.0 if measure in LIQUIDATION_MEASURES else None,
        )
        for p in pairs:
            rows["date"].append(p.date)
            rows["measure"].append(measure)
            rows["asset"].append(p.asset)
            rows["venue_a"].append(p.venue_a)
            rows["venue_b"].append(p.venue_b)
            rows["best_lag_minutes"].append(p.best_lag_minutes)
            rows["correlation"].append(p.correlation)
            rows["minutes"].append(p.minutes)
    return pa.table(rows, schema=_schema(LEAD_LAG_SCHEMA_FIELDS))
