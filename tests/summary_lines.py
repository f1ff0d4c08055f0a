"""Figures a test prints at the end of the run (precision and recall, measured factors), as sections of lines.

pytest's terminal summary shows them, so `-q` and output capture keep them; under pytest-xdist each worker hands
its sections to the controller (tests/conftest.py), which prints them once."""

from __future__ import annotations

SECTIONS: dict[str, list[str]] = {}


def add(section: str, line: str) -> None:
    SECTIONS.setdefault(section, []).append(line)
