"""Serialise the analysis Dataset: long CSV, JSON records and netCDF (bytes), and back.

Pure conversions between in-memory objects and ``str``/``bytes``; no file system access.
Column names carry units (``load_mg_per_day_per_1000``), so the long formats stay
self-describing.
"""

from __future__ import annotations

import io
import json
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from wastewater.jsonsafe import json_safe

INDEX = ("site", "analyte", "date")
NETCDF_ENGINE = "scipy"
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
    text = dataset_to_frame(ds, dropna=dropna).to_csv(index=False, lineterminator="\n")
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
    ds = frame.set_index(list(INDEX))[three_d].to_xarray()
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


def dataset_to_netcdf(ds: xr.Dataset) -> bytes:
    """netCDF-3 64-bit-offset bytes (engine :data:`NETCDF_ENGINE`); booleans are stored as int8 and restored."""
    enc = ds.copy()
    for name in list(enc.variables):
        if enc[name].dtype == bool:
            enc[name] = enc[name].astype(np.int8)
            enc[name].attrs["wastewater_dtype"] = "bool"
        elif enc[name].dtype == object:
            enc[name] = enc[name].astype(str)
    return bytes(enc.to_netcdf(engine=NETCDF_ENGINE))


def netcdf_to_dataset(data: bytes) -> xr.Dataset:
    """Inverse of :func:`dataset_to_netcdf` (loaded into memory)."""
    ds = xr.open_dataset(io.BytesIO(data), engine=NETCDF_ENGINE).load()
    for name in list(ds.variables):
        if ds[name].attrs.get("wastewater_dtype") == "bool":
            attrs = {k: v for k, v in ds[name].attrs.items() if k != "wastewater_dtype"}
            ds[name] = ds[name].astype(bool)
            ds[name].attrs = attrs
    return ds
