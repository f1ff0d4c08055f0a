"""Field names and JSON types of a payload, recursively: what conformance tests compare."""

from __future__ import annotations

import json


def shape(value):
    """A list is described by the shape of its elements, which must all agree."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        shapes = {json.dumps(shape(item), sort_keys=True) for item in value}
        assert len(shapes) <= 1, f"list elements differ in shape: {shapes}"
        return [json.loads(s) for s in shapes]
    return type(value).__name__
