"""Plotly figures as plain dicts: the subset of ``plotly.graph_objects`` the dashboard uses,
without plotly.py's per-property objects and validation.

:mod:`dashboards.figures` builds its figures with these (``Scatter``, ``Bar``, ``Figure``,
``make_subplots``, with the same call signatures and the same "magic underscore" spelling,
``title_text=`` → ``{"title": {"text": …}}``), and :meth:`Figure.to_plotly_json` gives the
JSON that plotly.js draws (``static/figures.js``). Building a report's 17 figures through
plotly.py's validated objects took about 40 % of the report (benchmarks/bench_dashboard.py);
plain dicts take a few milliseconds. ``tests/test_dashboard_figures.py`` checks that plotly.py
accepts every figure built here (it validates each property) and serialises it to the same
JSON, so what plotly.js receives is unchanged.

Reading a figure back works as on plotly's objects: ``fig.data[0].name``,
``fig.layout.yaxis.title.text``; a property never set reads as ``None``.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from wastewater.jsonsafe import json_safe

#: Property names that contain an underscore (everything else splits at ``_``: ``line_width``
#: is ``line.width``).
_UNDERSCORE_NAMES = frozenset({"error_x", "error_y"})


class Node(dict):
    """A dict whose keys read as attributes; an unset property reads as ``None`` (as plotly's)."""

    def __getattr__(self, key: str) -> Any:
        try:
            return self[key]
        except KeyError:
            if key.startswith("__"):
                raise AttributeError(key) from None
            return None


def _path(key: str) -> list[str]:
    return [key] if key in _UNDERSCORE_NAMES or "_" not in key else key.split("_")


def _value(value: Any) -> Any:
    if isinstance(value, (pd.Series, pd.Index)):  # plotly keeps data arrays as numpy arrays
        return value.to_numpy()
    if isinstance(value, Mapping):
        return merge(Node(), value)
    if isinstance(value, (list, tuple)) and any(isinstance(v, Mapping) for v in value):
        return [_value(v) for v in value]
    return value


def merge(target: Node, props: Mapping[str, Any]) -> Node:
    """Set ``props`` on ``target`` as plotly's ``update`` does: nested dicts merge, other values
    (lists included) replace, ``a_b`` keys are paths."""
    for key, value in props.items():
        *parents, last = _path(key)
        node = target
        for p in parents:
            child = node.get(p)
            if not isinstance(child, Node):
                child = node[p] = Node()
            node = child
        if isinstance(value, Mapping):
            child = node.get(last)
            if not isinstance(child, Node):
                child = node[last] = Node()
            merge(child, value)
        else:
            node[last] = _value(value)
    return target


def Scatter(**props: Any) -> Node:  # noqa: N802 - named as plotly.graph_objects.Scatter
    """A ``scatter`` trace."""
    return merge(Node(type="scatter"), props)


def Bar(**props: Any) -> Node:  # noqa: N802 - named as plotly.graph_objects.Bar
    """A ``bar`` trace."""
    return merge(Node(type="bar"), props)


class Figure:
    """Traces and layout as plain dicts, with plotly.graph_objects.Figure's building methods."""

    def __init__(self, data: Iterable[Mapping[str, Any]] | None = None,
                 layout: Mapping[str, Any] | None = None) -> None:
        self.data: list[Node] = [t if isinstance(t, Node) else merge(Node(), t) for t in (data or ())]
        self.layout = merge(Node(), layout or {})
        self._grid: list[list[tuple[str, str]]] | None = None  # (x, y) axis ids per row, col

    # -- subplots ------------------------------------------------------------------------------

    def _refs(self, row: int | None, col: int | None) -> tuple[str, str]:
        if self._grid is None or row is None or col is None:
            return "x", "y"
        return self._grid[row - 1][col - 1]

    def _axes(self, letter: str, row: int | None, col: int | None) -> list[str]:
        if self._grid is None:
            return [f"{letter}axis"]
        cells = [ref for r, refs in enumerate(self._grid, 1) for c, ref in enumerate(refs, 1)
                 if (row is None or r == row) and (col is None or c == col)]
        return [f"{letter}axis" + ref[0 if letter == "x" else 1][1:] for ref in cells]

    # -- building -------------------------------------------------------------------------------

    def add_trace(self, trace: Mapping[str, Any], row: int | None = None, col: int | None = None) -> Figure:
        node = trace if isinstance(trace, Node) else merge(Node(), trace)
        if self._grid is not None and row is not None and col is not None:
            node["xaxis"], node["yaxis"] = self._refs(row, col)
        self.data.append(node)
        return self

    def update_layout(self, dict1: Mapping[str, Any] | None = None, **props: Any) -> Figure:
        merge(self.layout, {**(dict1 or {}), **props})
        return self

    def update_xaxes(self, dict1: Mapping[str, Any] | None = None, row: int | None = None,
                     col: int | None = None, **props: Any) -> Figure:
        for name in self._axes("x", row, col):
            merge(self.layout.setdefault(name, Node()), {**(dict1 or {}), **props})
        return self

    def update_yaxes(self, dict1: Mapping[str, Any] | None = None, row: int | None = None,
                     col: int | None = None, **props: Any) -> Figure:
        for name in self._axes("y", row, col):
            merge(self.layout.setdefault(name, Node()), {**(dict1 or {}), **props})
        return self

    def _add_shape(self, shape: Mapping[str, Any], annotation: Mapping[str, Any] | None = None) -> Figure:
        self.layout["shapes"] = [*(self.layout.shapes or ()), merge(Node(), shape)]
        if annotation:
            self.layout["annotations"] = [*(self.layout.annotations or ()), merge(Node(), annotation)]
        return self

    def add_vrect(self, x0: Any, x1: Any, row: int | None = None, col: int | None = None,
                  annotation_text: str | None = None, annotation_position: str = "top right",
                  annotation_font: Mapping[str, Any] | None = None, **props: Any) -> Figure:
        """A rectangle over the whole height of the x axis ``x0``–``x1`` (plotly's ``add_vrect``),
        with an optional label at ``annotation_position`` ("top left", "top right")."""
        xref, yref = self._refs(row, col)
        shape = {**props, "type": "rect", "x0": x0, "x1": x1, "xref": xref, "y0": 0, "y1": 1,
                 "yref": f"{yref} domain"}
        note = None
        if annotation_text is not None:
            left = "left" in annotation_position
            note = {"showarrow": False, "text": annotation_text, "x": x0 if left else x1,
                    "xanchor": "left" if left else "right", "xref": xref,
                    "y": 1 if "top" in annotation_position else 0,
                    "yanchor": "top" if "top" in annotation_position else "bottom", "yref": f"{yref} domain"}
            if annotation_font:
                note["font"] = dict(annotation_font)
        return self._add_shape(shape, note)

    def add_vline(self, x: Any, row: int | None = None, col: int | None = None, **props: Any) -> Figure:
        xref, yref = self._refs(row, col)
        return self._add_shape({**props, "type": "line", "x0": x, "x1": x, "xref": xref, "y0": 0, "y1": 1,
                                "yref": f"{yref} domain"})

    def add_hline(self, y: Any, row: int | None = None, col: int | None = None, **props: Any) -> Figure:
        xref, yref = self._refs(row, col)
        return self._add_shape({**props, "type": "line", "x0": 0, "x1": 1, "xref": f"{xref} domain",
                                "y0": y, "y1": y, "yref": yref})

    # -- output ---------------------------------------------------------------------------------

    def to_plotly_json(self) -> dict[str, Any]:
        """``{"data": [...], "layout": {...}}`` with JSON values only (:func:`to_plotly`)."""
        return {"data": [to_plotly(t) for t in self.data], "layout": to_plotly(self.layout)}


def make_subplots(rows: int = 1, cols: int = 1, column_widths: Sequence[float] | None = None,
                  horizontal_spacing: float | None = None,
                  subplot_titles: Sequence[str] | None = None) -> Figure:
    """One row of ``cols`` subplots, laid out as :func:`plotly.subplots.make_subplots` lays them:
    the widths share ``1 − spacing × (cols − 1)``, each axis anchored to its partner, a
    non-empty title centred above its column (font size 16)."""
    if rows != 1:
        raise ValueError("only one row of subplots is supported")
    spacing = 0.2 / cols if horizontal_spacing is None else horizontal_spacing
    widths = list(column_widths or [1.0] * cols)
    total = sum(widths)
    avail = 1.0 - spacing * (cols - 1)
    fig = Figure()
    fig._grid = [[("x" if c == 0 else f"x{c + 1}", "y" if c == 0 else f"y{c + 1}") for c in range(cols)]]
    left = 0.0
    for c in range(cols):
        right = left + avail * widths[c] / total
        suffix = "" if c == 0 else str(c + 1)
        fig.layout[f"xaxis{suffix}"] = Node(anchor=f"y{suffix}", domain=[left, right])
        fig.layout[f"yaxis{suffix}"] = Node(anchor=f"x{suffix}", domain=[0.0, 1.0])
        title = (subplot_titles or [""] * cols)[c]
        if title:
            _title_annotation(fig, title, (left + right) / 2)
        left = right + spacing
    return fig


def _title_annotation(fig: Figure, text: str, x: float) -> None:
    fig.layout["annotations"] = [*(fig.layout.annotations or ()), Node(
        font=Node(size=16), showarrow=False, text=text, x=x, xanchor="center", xref="paper", y=1.0,
        yanchor="bottom", yref="paper")]


# -- JSON ---------------------------------------------------------------------------------------

def _iso(value: Any) -> str:
    return pd.Timestamp(value).isoformat()


def _array(values: np.ndarray) -> Any:
    """A numeric array as plotly.py 6+ sends it (``{"dtype": "f8", "bdata": base64}``, NaN kept
    as a gap); dates as ISO strings; anything else as a list."""
    if values.dtype.kind == "M":
        return [None if pd.isna(v) else _iso(v) for v in values]
    if values.dtype.kind == "f" or values.dtype.kind in "iu":
        data = np.ascontiguousarray(values, dtype="<f8")
        out: dict[str, Any] = {"dtype": "f8", "bdata": base64.b64encode(data.tobytes()).decode("ascii")}
        if data.ndim > 1:
            out["shape"] = ", ".join(str(n) for n in data.shape)
        return out
    if values.dtype.kind == "b":
        return values.tolist()
    return [to_plotly(v) for v in values.tolist()]


def to_plotly(value: Any) -> Any:
    """``value`` in plotly.py's JSON form: numeric arrays as typed arrays (:func:`_array`) and
    timestamps as ISO date-times, as plotly.py sends them; every other scalar (NaN → None, numpy
    → Python) by the service's one encoder, :func:`wastewater.jsonsafe.json_safe`."""
    if isinstance(value, Mapping):
        return {k: to_plotly(v) for k, v in value.items()}
    if isinstance(value, (pd.Series, pd.Index)):
        return _array(value.to_numpy())
    if isinstance(value, np.ndarray):
        return _array(value)
    if isinstance(value, (list, tuple)):
        return [to_plotly(v) for v in value]
    if isinstance(value, (pd.Timestamp, dt.datetime, dt.date, np.datetime64)):
        return None if pd.isna(value) else _iso(value)
    return json_safe(value)
    if isinstance(value, (pd.Timestamp, dt.datetime, dt.date, np.datetime64)):
        return None if pd.isna(value) else _iso(value)
    return value
