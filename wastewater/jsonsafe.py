"""The one JSON-safe encoder: numpy/pandas values and containers to plain JSON values.

Every JSON the service writes (API bodies, ``to_dict()`` of the statistics results, the JSON
export of a dataset, backup archives) goes through :func:`json_safe`, so one rule decides what
NaN, a timestamp or a numpy integer becomes:

- ``None``, ``str``, ``bool`` stay; numpy booleans and integers become ``bool`` / ``int``;
- floats: finite values stay, NaN and ±inf become ``None`` (JSON has no NaN);
- ``pd.NaT``, ``pd.NA`` and other pandas missing scalars become ``None``;
- a naive timestamp at midnight becomes ``YYYY-MM-DD``, other dates and times ISO 8601
  (``utc=True``: datetimes as UTC with offset, naive ones taken as UTC, as storage keeps them);
- dicts (keys as ``str``), lists, tuples, sets and arrays are converted element by element.

>>> import numpy as np, pandas as pd
>>> json_safe({"p": np.float64("nan"), "n": np.int64(3), "day": pd.Timestamp("2025-04-30")})
{'p': None, 'n': 3, 'day': '2025-04-30'}
>>> json_column(pd.Series([1.5, np.inf]))
[1.5, None]
"""

from __future__ import annotations

import datetime as dt
import json
import math
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["dumps", "dumps_bytes", "json_column", "json_safe", "utc_iso"]


def utc_iso(value: dt.datetime) -> str:
    """A datetime as UTC ISO 8601; naive values are UTC by the storage convention.

    >>> utc_iso(dt.datetime(2025, 1, 2, 3, 4, 5))
    '2025-01-02T03:04:05+00:00'
    """
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).isoformat()


def json_safe(value: Any, *, utc: bool = False) -> Any:
    """``value`` with every numpy/pandas scalar, NaN and timestamp replaced by a JSON value."""
    if value is None or isinstance(value, str | bool):
        return value
    if isinstance(value, dict):
        return {str(k): json_safe(v, utc=utc) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_safe(v, utc=utc) for v in value]
    if isinstance(value, np.ndarray):
        return [json_safe(v, utc=utc) for v in value.tolist()]
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        f = float(value)
        return f if math.isfinite(f) else None
    if value is pd.NaT:
        return None
    if isinstance(value, np.datetime64):
        value = pd.Timestamp(value)
        if value is pd.NaT:
            return None
    if isinstance(value, pd.Timestamp) and not utc:
        naive_midnight = value.tzinfo is None and value == value.normalize()
        return value.date().isoformat() if naive_midnight else value.isoformat()
    if isinstance(value, dt.datetime):
        return utc_iso(value) if utc else value.isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return value


def json_column(values: pd.Series) -> list[Any]:
    """``[json_safe(v) for v in values]``, computed per column for the common dtypes (fast path).

    float → float or ``None`` (NaN, ±inf); bool and int → themselves; naive whole-day
    timestamps → ``YYYY-MM-DD``; anything else goes through :func:`json_safe` value by value.
    """
    arr = values.to_numpy() if isinstance(values.dtype, np.dtype) else None
    if arr is not None and arr.dtype.kind == "f":
        finite = np.isfinite(arr)
        out: list[Any] = arr.tolist()
        if not finite.all():
            for i in np.flatnonzero(~finite).tolist():
                out[i] = None
        return out
    if arr is not None and arr.dtype.kind in "biu":
        return list(arr.tolist())
    if arr is not None and arr.dtype.kind == "M":
        days = arr.astype("datetime64[D]")
        if not np.isnat(arr).any() and (days == arr).all():
            return list(np.datetime_as_string(days, unit="D").tolist())
    return [json_safe(v) for v in values.tolist()]


def dumps(value: Any, **kwargs: Any) -> str:
    """``json.dumps`` of :func:`json_safe` (UTF-8 text, NaN never written).

    >>> dumps({"x": float("nan"), "sv": "Valborg – å"})
    '{"x": null, "sv": "Valborg – å"}'
    """
    kwargs.setdefault("ensure_ascii", False)
    return json.dumps(json_safe(value), allow_nan=False, **kwargs)


def dumps_bytes(value: Any) -> bytes:
    """Compact UTF-8 JSON bytes of :func:`json_safe` with orjson (the fast encoder of API bodies).

    >>> dumps_bytes({"x": float("nan"), "d": [1, 2.5]})
    b'{"x":null,"d":[1,2.5]}'
    """
    import orjson

    plain_only = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
    try:  # already plain values (e.g. built by json_column): no copy
        return orjson.dumps(value, option=plain_only)
    except TypeError:  # numpy, pandas or datetime values inside: the one rule first
        return orjson.dumps(json_safe(value))
