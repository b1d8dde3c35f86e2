"""Serialise the analysis Dataset: long CSV, JSON records and netCDF (bytes), and back.

Pure conversions between in-memory objects and ``str``/``bytes``; no file system access.
Column names carry units (``load_mg_per_day_per_1000``), so the long formats stay
self-describing.
"""

from __future__ import annotations

import io
import json
from typing import Any, Final, Literal

import numpy as np
import pandas as pd
import xarray as xr

from wastewater.jsonsafe import json_safe

INDEX = ("site", "analyte", "date")
NETCDF_ENGINE: Final[Literal["scipy"]] = "scipy"
"""netCDF-3 engine from scipy (installed; ``h5netcdf`` would also need ``h5py``, which is not)."""


def dataset_to_frame(ds: xr.Dataset, *, dropna: bool = True) -> pd.DataFrame:
    """Long DataFrame: one row per site × analyte × date with every variable as a column.

    Parameters
    ----------
    dropna : bool
        Drop rows without a concentration (days without a sample).
    """
    frame = ds.to_dataframe().reset_index()
    order = [c for c in INDEX if c in frame.columns]
    frame = frame[order + [c for c in frame.columns if c not in order]]
    # analyte-level coordinates (cf_id ...) end up as columns too
    if dropna and "concentration_ng_per_l" in frame.columns:
        frame = frame[frame["concentration_ng_per_l"].notna()]
    frame["date"] = pd.to_datetime(frame["date"]).dt.strftime("%Y-%m-%d")
    return frame.reset_index(drop=True)


def dataset_to_csv(ds: xr.Dataset, *, dropna: bool = True, as_bytes: bool = False) -> str | bytes:
    """Long-format CSV (UTF-8, ISO dates, units in column names)."""
    text: str = dataset_to_frame(ds, dropna=dropna).to_csv(index=False, lineterminator="\n")
    return text.encode("utf-8") if as_bytes else text


def dataset_to_json(ds: xr.Dataset, *, dropna: bool = True) -> str:
    """JSON list of records (NaN → null), with dataset attributes under ``attrs``."""
    frame = dataset_to_frame(ds, dropna=dropna)
    records = [json_safe(rec) for rec in frame.to_dict("records")]
    attrs = json_safe(dict(ds.attrs))
    return json.dumps({"attrs": attrs, "records": records}, ensure_ascii=False)


def _frame_to_dataset(frame: pd.DataFrame, attrs: dict[str, Any]) -> xr.Dataset:
    frame = frame.copy()
    frame["date"] = pd.to_datetime(frame["date"]).astype("datetime64[ns]")
    two_d = [c for c in ("flow_m3_per_day", "population") if c in frame.columns]
    three_d = [c for c in frame.columns if c not in INDEX and c not in two_d]
    analyte_coords = [c for c in ("cf_id", "correction_factor", "typical_dose_mg") if c in three_d]
    three_d = [c for c in three_d if c not in analyte_coords]
    ds: xr.Dataset = frame.set_index(list(INDEX))[three_d].to_xarray()
    if two_d:
        site_day = frame.groupby(["site", "date"])[two_d].first().to_xarray()
        for c in two_d:
            ds[c] = site_day[c]
    for c in analyte_coords:
        ds = ds.assign_coords({c: frame.groupby("analyte")[c].first().to_xarray()})
    if "censored" in ds:
        ds["censored"] = ds["censored"].fillna(False).astype(bool)
    for c in ("n_replicates", "composite_hours"):
        if c in ds:
            ds[c] = ds[c].fillna(0).astype(np.int16)
    ds.attrs.update(attrs)
    return ds


def csv_to_dataset(data: str | bytes, attrs: dict[str, Any] | None = None) -> xr.Dataset:
    """Inverse of :func:`dataset_to_csv` (days without a sample stay absent)."""
    if isinstance(data, bytes):
        data = data.decode("utf-8")
    return _frame_to_dataset(pd.read_csv(io.StringIO(data)), attrs or {})


def json_to_dataset(data: str | bytes) -> xr.Dataset:
    """Inverse of :func:`dataset_to_json`."""
    obj = json.loads(data)
    return _frame_to_dataset(pd.DataFrame.from_records(obj["records"]), obj.get("attrs", {}))


CF_CONVENTIONS = "CF-1.10"
"""The CF metadata conventions version the netCDF exports follow [CF2022]_."""

_BASES: dict[str, dict[str, str]] = {
    "concentration_ng_per_l": {"units": "ng L-1", "long_name":
                               "mass concentration of the analyte in raw wastewater influent"},
    "loq_ng_per_l": {"units": "ng L-1", "long_name": "limit of quantification"},
    "lod_ng_per_l": {"units": "ng L-1", "long_name": "limit of detection"},
    "replicate_sd_ng_per_l": {"units": "ng L-1", "long_name":
                              "standard deviation of the laboratory replicates"},
    "flow_m3_per_day": {"units": "m3 d-1", "long_name": "daily influent flow at the sampling site"},
    "load_mg_per_day": {"units": "mg d-1", "long_name": "daily mass load of the analyte"},
    "load_mg_per_day_per_1000": {"units": "ug d-1", "long_name":
                                 "population-normalised daily mass load per inhabitant "
                                 "(mg/day/1000 inhabitants = ug/day per inhabitant)"},
    "consumption_mg_per_day_per_1000": {"units": "ug d-1", "long_name":
                                        "estimated consumption of the parent drug per inhabitant "
                                        "(mg/day/1000 inhabitants = ug/day per inhabitant)"},
    "doses_per_day_per_1000": {"units": "1e-3 d-1", "long_name":
                               "estimated doses per day per 1000 inhabitants"},
    "population": {"units": "1", "long_name": "population served by the catchment (inhabitants)"},
    "n_replicates": {"units": "1", "long_name": "number of laboratory replicates"},
    "n_days": {"units": "1", "long_name": "number of days with a value in the ISO week"},
    "n_censored": {"units": "1", "long_name": "number of censored (below LOQ) days"},
    "composite_hours": {"units": "h", "long_name": "duration of the composite sample"},
    "correction_factor": {"units": "1", "long_name":
                          "excretion correction factor (parent mass per residue mass)"},
    "typical_dose_mg": {"units": "mg", "long_name": "typical dose of the parent drug"},
    "cf_id": {"units": "1", "long_name": "identifier of the correction factor (catalogue)"},
    "site": {"units": "1", "long_name": "sampling site identifier"},
    "analyte": {"units": "1", "long_name": "analyte identifier (wastewater analyte catalogue)"},
    "iso_week": {"units": "1", "long_name": "ISO 8601 week (YYYY-Www)"},
}
_TIME = {"standard_name": "time", "axis": "T",
         "long_name": "collection start day of the 24 h composite sample"}
_INTERVALS = {"lo95": "lower limit of the 95 % interval", "hi95": "upper limit of the 95 % interval",
              "mc_median": "Monte Carlo median", "median7": "7-day trailing median",
              "mean7": "7-day trailing mean"}
CENSORED_FLAG = {"flag_values": np.array([0, 1], dtype=np.int8),
                 "flag_meanings": "quantified below_limit_of_quantification",
                 "long_name": "censoring flag: 1 = below the limit of quantification "
                              "(value substituted according to loq_method)", "units": "1"}
"""CF flag variable attributes of ``censored`` (stored as int8)."""


def cf_attrs(name: str) -> dict[str, Any]:
    """
    CF attributes (``units``, ``long_name``, ``standard_name`` where CF has one) of a variable,
    by its name: the one place that knows them, so renamed interval variables only need a new
    suffix here. ``{base}_{suffix}`` (e.g. ``load_mg_per_day_per_1000_lo95``) takes the units of
    ``base`` and describes the suffix. Unknown names raise KeyError naming the variable.
    """
    if name in ("date", "time"):
        return dict(_TIME)
    if name == "censored":
        return dict(CENSORED_FLAG)
    if name in _BASES:
        return dict(_BASES[name])
    for base in sorted(_BASES, key=len, reverse=True):
        if name.startswith(base + "_"):
            suffix = name[len(base) + 1:]
            what = _INTERVALS.get(suffix, suffix.replace("_", " "))
            return {"units": _BASES[base]["units"],
                    "long_name": f"{_BASES[base]['long_name']}: {what}"}
    raise KeyError(f"no CF attributes for variable {name!r}; add it to wastewater.export._BASES")


def to_cf(ds: xr.Dataset, *, title: str | None = None, source: str | None = None,
          history: str | None = None) -> xr.Dataset:
    """
    Copy of ``ds`` with CF-1.10 metadata [CF2022]_: ``units`` and ``long_name`` (and
    ``standard_name`` where CF has one, i.e. ``time``) on every variable from :func:`cf_attrs`,
    ``censored`` as an int8 flag variable (``flag_values``/``flag_meanings``) named in the
    ``ancillary_variables`` of the measured variables together with their intervals, and the
    global ``Conventions``, ``title``, ``source``, ``history``. Existing attributes are kept.
    """
    from wastewater import __version__

    out = ds.copy()
    for name in list(out.variables):
        attrs = cf_attrs(str(name))
        if np.issubdtype(out[name].dtype, np.datetime64):
            attrs.pop("units", None)   # xarray writes "days since …" itself
        if name == "censored":
            out[name] = out[name].astype(np.int8)
            attrs["wastewater_dtype"] = "bool" if ds[name].dtype == bool else str(ds[name].dtype)
        out[name].attrs = {**attrs, **{k: v for k, v in ds[name].attrs.items()
                                       if k not in attrs}}
    data_vars = [str(v) for v in out.data_vars]
    for v in data_vars:
        if v == "censored" or v.endswith(tuple(f"_{s}" for s in _INTERVALS)):
            continue
        anc = [w for w in data_vars if w != v and (w == "censored" or
                                                   (w.startswith(v + "_") and w in data_vars))]
        if anc:
            out[v].attrs["ancillary_variables"] = " ".join(anc)
    out.attrs = {**out.attrs, "Conventions": CF_CONVENTIONS,
                 "title": title or out.attrs.get("title") or
                 "Wastewater drug monitoring: daily series per site and analyte",
                 "source": source or out.attrs.get("source") or
                 "24 h composite samples of raw wastewater influent analysed by laboratories, "
                 "normalised with daily flow and de jure population",
                 "history": history or out.attrs.get("history") or
                 f"created by wastewater {__version__} (wastewater.export.to_cf)"}
    return out


def dataset_to_netcdf(ds: xr.Dataset, *, title: str | None = None, source: str | None = None,
                      history: str | None = None) -> bytes:
    """netCDF-3 64-bit-offset bytes (engine :data:`NETCDF_ENGINE`) following CF-1.10
    (:func:`to_cf`); booleans are stored as int8 and restored by :func:`netcdf_to_dataset`.
    """
    enc = to_cf(ds, title=title, source=source, history=history)
    for name in list(enc.variables):
        if enc[name].dtype == bool:
            attrs = dict(enc[name].attrs)
            enc[name] = enc[name].astype(np.int8)
            enc[name].attrs = {**attrs, "wastewater_dtype": "bool"}
        elif enc[name].dtype == object or enc[name].dtype.kind in "UT":
            attrs = dict(enc[name].attrs)
            enc[name] = enc[name].astype(str)
            enc[name].attrs = attrs
    return bytes(enc.to_netcdf(engine=NETCDF_ENGINE))


def netcdf_to_dataset(data: bytes) -> xr.Dataset:
    """Inverse of :func:`dataset_to_netcdf` (loaded into memory; CF attributes kept)."""
    ds = xr.open_dataset(io.BytesIO(data), engine=NETCDF_ENGINE).load()
    for name in list(ds.variables):
        if ds[name].attrs.get("wastewater_dtype") == "bool":
            attrs = {k: v for k, v in ds[name].attrs.items() if k != "wastewater_dtype"}
            ds[name] = ds[name].astype(bool)
            ds[name].attrs = attrs
    return ds


def series_to_dataset(points: list[dict[str, Any]], *, value_field: str, site: str, analyte: str,
                      attrs: dict[str, str] | None = None) -> xr.Dataset:
    """
    One site × analyte series (the ``points`` of ``GET /series``: ``date``, ``value_field``,
    ``lo95``/``hi95`` and ``censored`` or, weekly, ``iso_week``, ``n_days``, ``n_censored``) as
    a Dataset with dimension ``date`` and scalar coordinates ``site`` and ``analyte``; the
    interval variables are named ``{value_field}_lo95``/``_hi95`` so their units follow.
    """
    dates = pd.to_datetime([pt["date"] for pt in points]) if points else pd.DatetimeIndex([])

    def col(key: str, fill: Any = np.nan) -> list[Any]:
        return [pt.get(key) if pt.get(key) is not None else fill for pt in points]

    data: dict[str, tuple[str, Any]] = {
        value_field: ("date", np.array(col(value_field), dtype=np.float64))}
    for k in ("lo95", "hi95"):
        data[f"{value_field}_{k}"] = ("date", np.array(col(k), dtype=np.float64))
    for k in (points[0] if points else {}):
        if k.startswith(value_field + "_"):  # smoothed values (``{value_field}_median7`` …)
            data[k] = ("date", np.array(col(k), dtype=np.float64))
    if points and "censored" in points[0]:
        data["censored"] = ("date", np.array(col("censored", False), dtype=np.bool_))
    for k in ("n_days", "n_censored"):
        if points and k in points[0]:
            data[k] = ("date", np.array(col(k, 0), dtype=np.int16))
    if points and "iso_week" in points[0]:
        data["iso_week"] = ("date", np.array([str(x) for x in col("iso_week", "")], dtype=object))
    ds = xr.Dataset(data, coords={"date": dates.astype("datetime64[ns]"), "site": site,
                                  "analyte": analyte})
    ds.attrs.update(attrs or {})
    return ds
