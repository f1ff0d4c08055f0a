"""Half-open [start, end) millisecond intervals: what a rolling-window source has seen of a day."""

from __future__ import annotations

from collections.abc import Iterable

Interval = tuple[int, int]


def merge_intervals(intervals: Iterable[Interval]) -> list[Interval]:
    """Sorted, disjoint intervals covering the same time; touching intervals join, empty ones are dropped."""
    merged: list[list[int]] = []
    for start, end in sorted((int(s), int(e)) for s, e in intervals):
        if end <= start:
            continue
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(s, e) for s, e in merged]


def subtract_intervals(intervals: Iterable[Interval], removed: Iterable[Interval]) -> list[Interval]:
    """The parts of `intervals` outside every interval of `removed`, merged."""
    cut = merge_intervals(removed)
    out: list[Interval] = []
    for start, end in merge_intervals(intervals):
        for lo, hi in cut:
            if hi <= start or lo >= end:
                continue
            if lo > start:
                out.append((start, lo))
            start = max(start, hi)
            if start >= end:
                break
        if start < end:
            out.append((start, end))
    return merge_intervals(out)
