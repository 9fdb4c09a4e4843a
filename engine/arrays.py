"""Arrays that leave the process: which dtypes may travel or be stored, and their raw buffers.

Used by the protocol (``engine.transport.protocol``, the wire format) and by what is checked
or stored (a preset contract checks that every state array can reach the window),
so it lives below both. ``json_kind`` says what a decoded JSON value is, for
messages that say what was found. Imports numpy only (no torch, no Qt).
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: dtypes an array may have to travel between processes (raw buffers, never pickles)
ALLOWED_DTYPES = {"float32", "float64", "complex64", "complex128", "bool",
                  "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"}


def pack_arrays(arrays: dict[str, np.ndarray]) -> tuple[list[dict], list[memoryview]]:
    """Describe and expose ``arrays`` as raw buffers (no copy for contiguous arrays)."""
    meta, buffers = [], []
    for name, arr in arrays.items():
        arr = np.ascontiguousarray(arr)
        if arr.dtype.name not in ALLOWED_DTYPES:
            raise ValueError(f"array {name!r}: dtype {arr.dtype} cannot travel; allowed: {sorted(ALLOWED_DTYPES)}")
        meta.append({"name": name, "dtype": arr.dtype.name, "shape": list(arr.shape)})
        # an empty array (no Poincaré points yet, no grid for a 3D field) travels as no bytes:
        # memoryview cannot cast a view with a zero in its shape
        buffers.append(memoryview(arr).cast("B") if arr.size else memoryview(b""))
    return meta, buffers


def json_kind(value: Any) -> str:
    """What a decoded JSON value is, in JSON's words (for messages that say what was found)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, (int, float)):
        return f"a number ({value!r})"
    if isinstance(value, str):
        return f"a string ({value[:40]!r})"
    if isinstance(value, list):
        return f"an array of {len(value)}"
    if isinstance(value, dict):
        keys = ", ".join(repr(k) for k in list(value)[:5])
        return f"an object (keys {keys}{', …' if len(value) > 5 else ''})" if value else "an empty object"
    return type(value).__name__
