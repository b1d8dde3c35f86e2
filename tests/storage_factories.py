"""Contract frames (docs/architecture.md, "Parsed upload") built by hand for storage tests.

The storage layer is tested on these frames through ``store_parsed`` so that its tests do not
depend on the parser; ``tests/test_storage_ingest.py`` covers the real bytes → parser → storage
path.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from wastewater.ingest.report import Issue, ParsedUpload, ValidationReport


def parsed(kind: str, frame: pd.DataFrame, issues: list[Issue] | None = None,
           rows_total: int | None = None) -> ParsedUpload:
    """Wrap a frame as the parser would (report counts match the frame)."""
    frame = frame.reset_index(drop=True)
    if "source_line" not in frame.columns:
        frame["source_line"] = np.arange(2, len(frame) + 2)
    issues = list(issues or [])
    report = ValidationReport(kind=kind, rows_total=rows_total if rows_total is not None
                              else len(frame) + len([i for i in issues if i.severity == "error"]),
                              rows_accepted=len(frame), issues=issues)
    return ParsedUpload(kind=kind, frame=frame, report=report)


def as_bytes(upload: ParsedUpload, salt: str = "") -> bytes:
    """Deterministic bytes standing for the uploaded file (only its SHA-256 matters here)."""
    return (upload.kind + salt + "\n" + upload.frame.to_csv(index=False)).encode()


def sites_frame(rows: list[tuple] | None = None) -> pd.DataFrame:
    """(site, name, municipality, population, population_year, lat, lon, plant) rows."""
    rows = rows or [
        ("SE-A", "Plant A", "Alby", 25100, 2024, 58.99, 16.21, "A WWTP"),
        ("SE-A", "Plant A", "Alby", 25300, 2025, 58.99, 16.21, "A WWTP"),
        ("SE-B", "Plant B", "Bby", 11000, 2025, np.nan, np.nan, None),
    ]
    df = pd.DataFrame(rows, columns=["site", "name", "municipality", "population",
                                     "population_year", "lat", "lon", "treatment_plant"])
    df["population"] = df["population"].astype("int64")
    df["population_year"] = df["population_year"].astype("Int64")
    df["population_method"] = "de_jure"
    return df


def flows_frame(site: str = "SE-A", start: str = "2025-01-01", days: int = 5,
                flow_m3_per_day: float | list[float] = 9000.0) -> pd.DataFrame:
    dates = pd.date_range(start, periods=days, freq="D")
    flows = (flow_m3_per_day if isinstance(flow_m3_per_day, list)
             else [flow_m3_per_day + 10.0 * i for i in range(days)])
    return pd.DataFrame({"site": site, "date": dates.astype("datetime64[ns]"),
                         "flow_m3_per_day": np.asarray(flows, dtype=float)})


def results_frame(n_days: int = 3, site: str = "SE-A",
                  analytes: tuple[str, ...] = ("benzoylecgonine", "amphetamine"),
                  start: str = "2025-01-01", base_ng_per_l: float = 100.0) -> pd.DataFrame:
    """One sample per day per site; value = base + 10·day + analyte index (hand-checkable)."""
    rows = []
    for d, day in enumerate(pd.date_range(start, periods=n_days, freq="D")):
        sample_id = f"{site}-{day:%Y%m%d}"
        for a, analyte in enumerate(analytes):
            rows.append({
                "sample_id": sample_id, "site": site, "sample_date": day, "analyte": analyte,
                "replicate": 1, "value_ng_per_l": base_ng_per_l + 10.0 * d + a,
                "censor": "none", "loq_ng_per_l": 10.0, "lod_ng_per_l": 1.0,
                "flow_m3_per_day": np.nan, "composite_hours": 24, "sample_role": "sample",
                "lab": "Lab A", "method": "SPE-LC-MS/MS", "comment": None,
                "original_value": f"{base_ng_per_l + 10.0 * d + a:g}", "original_unit": "ng/L",
            })
    df = pd.DataFrame(rows)
    df["sample_date"] = df["sample_date"].astype("datetime64[ns]")
    return df


def big_results_frame(n_rows: int, site: str = "SE-A", seed: int = 42) -> pd.DataFrame:
    """``n_rows`` results (20 analyte slots per sample) with seeded random concentrations."""
    rng = np.random.default_rng(seed)
    idx = np.arange(n_rows)
    sample = idx // 20
    day = pd.Timestamp("2020-01-01") + pd.to_timedelta(sample, unit="D")
    values = rng.lognormal(mean=5.0, sigma=0.5, size=n_rows)
    return pd.DataFrame({
        "sample_id": [f"{site}-{s:07d}" for s in sample],
        "site": site,
        "sample_date": day.astype("datetime64[ns]"),
        "analyte": [f"analyte-{i % 20:02d}" for i in idx],
        "replicate": 1,
        "value_ng_per_l": values,
        "censor": "none",
        "loq_ng_per_l": 10.0,
        "lod_ng_per_l": 1.0,
        "flow_m3_per_day": np.nan,
        "composite_hours": 24,
        "sample_role": "sample",
        "lab": "Lab A",
        "method": "SPE-LC-MS/MS",
        "comment": None,
        "original_value": [f"{v:.3f}" for v in values],
        "original_unit": "ng/L",
    })


def events_frame() -> pd.DataFrame:
    return pd.DataFrame({
        "event_id": ["EV-1", "EV-2"],
        "kind": ["operation", "campaign"],
        "start": pd.to_datetime(["2025-03-10", "2025-04-22"]).astype("datetime64[ns]"),
        "end": pd.to_datetime(["2025-03-21", "2025-04-30"]).astype("datetime64[ns]"),
        "sites": [["SE-A"], []],
        "substances": [["benzoylecgonine", "cocaine"], []],
        "description": ["Targeted operation", "Campaign"],
        "confidential": [False, True],
    })
