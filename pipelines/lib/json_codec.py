"""JSON written through orjson (several times faster than the standard library on venue pages).

`dumps_compact` gives the same document as `json.dumps(value, separators=(",", ":"))`, except that non-ASCII text is
written as UTF-8 rather than \\u escapes, and NaN/Infinity (not JSON) become null. Values orjson cannot write
(integers beyond 64 bits, non-string keys) fall back to the standard library. Reading stays with the standard
library: orjson reads an integer beyond 64 bits as a float, which would lose digits.
"""

from __future__ import annotations

import json
from typing import Any

import orjson


def dumps_compact(value: Any) -> str:
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value, separators=(",", ":"))
