"""Exchange between the service database and PHES-ODM / EUDA files (used by the CLI and the API).

Thin wrappers around the pure converters of :mod:`wastewater.interop.odm` and
:mod:`wastewater.interop.euda`:

- :func:`load_odm_export` reads the repository frames and converts them with
  :func:`wastewater.interop.odm.export_odm`.
- :func:`upload_csvs` (pure) writes service frames back as the service's own ``sites``,
  ``flows`` and ``results`` CSV uploads (the ingest contract of docs/architecture.md), and
  :func:`import_odm_tables` stores them with :func:`wastewater.storage.service.ingest_bytes`,
  so ODM data goes through the same validation, supersession history and verbatim-upload
  storage as any other file. The stored verbatim bytes are the converted CSV (the ODM source
  is named in the upload's file name); ``original_value``/``original_unit`` of the stored rows
  therefore describe that CSV (value in ng/L), not the ODM producer's own notation.
- :func:`euda_campaign_rows` computes the service's campaign week per site and analyte in the
  EUDA all-data layout from daily population-normalised loads
  (:func:`wastewater.timeseries.build_dataset`, :func:`wastewater.interop.euda.campaign_row`).
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import math
import re
from collections.abc import Iterable
from typing import Any

import pandas as pd
from sqlalchemy.engine import Engine

from wastewater.interop import euda, odm

UPLOAD_ORDER = ("sites", "flows", "results")
"""Kinds written by :func:`upload_csvs`, in storage order (sites before the rows naming them)."""

SITES_CSV_COLUMNS = ["site", "name", "municipality", "population", "population_year",
                     "population_method", "lat", "lon", "treatment_plant"]
FLOWS_CSV_COLUMNS = ["site", "date", "flow_m3_per_day"]
RESULTS_CSV_COLUMNS = ["sample_id", "site", "sample_date", "analyte", "value", "unit", "qualifier",
                       "loq", "lod", "flow_m3_per_day", "composite_hours", "replicate",
                       "sample_role", "lab", "method", "comment"]
"""Headers of the service's own long CSV formats (as in ``samples/*.csv``); numbers in the
canonical units: ng/L for ``value``/``loq``/``lod`` (``unit`` = ``ng/L``), m³/day for flows."""


# --------------------------------------------------------------------------- pure: frames → CSV
def _num(v: Any) -> str:
    """Shortest text that reads back as the same float (``348`` not ``348.0``); blank for NaN."""
    if v is None or v is pd.NA:
        return ""
    x = float(v)
    if math.isnan(x):
        return ""
    if x.is_integer() and abs(x) < 1e15:
        return str(int(x))
    return repr(x)


def _text(v: Any) -> str:
    s = odm._opt_str(v)
    return "" if s is None else s


def _date(v: Any) -> str:
    return str(pd.Timestamp(v).strftime("%Y-%m-%d"))


def _csv(header: list[str], rows: Iterable[list[str]]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue().encode("utf-8")


_PLAIN = re.compile(r"^\s*[0-9]+(?:\.[0-9]+)?\s*$")
_BELOW = re.compile(r"^\s*<\s*([0-9]+(?:\.[0-9]+)?)\s*$")


def _value_cells(x: Any) -> list[str]:
    """``value, unit, qualifier, loq, lod`` cells of one result.

    When the original cell was in ng/L and reads back as the same result (a plain number equal
    to ``value_ng_per_l``, or ``<number`` equal to the LOQ of a ``<LOQ`` result), it is written
    verbatim, so the parser records the same ``original_value``; otherwise the value in ng/L
    (shortest exact text) or an empty value with the censoring in ``qualifier``.
    """
    loq, lod = _num(x.loq_ng_per_l), _num(x.lod_ng_per_l)
    orig = x.original_value or ""
    m = _BELOW.match(orig)
    if (x.censor == "<LOQ" and m and loq and float(m.group(1)) == float(x.loq_ng_per_l)
            and (x.original_unit or "ng/L") in ("ng/L", "ng/l") and math.isnan(x.value_ng_per_l)):
        return [orig.strip(), "ng/L", "", loq, lod]
    n = _PLAIN.match(orig)
    if (x.censor == "none" and n and (x.original_unit or "ng/L") in ("ng/L", "ng/l")
            and float(orig) == float(x.value_ng_per_l)):
        return [orig.strip(), "ng/L", "", loq, lod]
    return [_num(x.value_ng_per_l), "ng/L", "" if x.censor == "none" else x.censor, loq, lod]


def upload_csvs(frames: dict[str, pd.DataFrame]) -> dict[str, bytes]:
    """
    Service frames as the service's own CSV uploads.

    Parameters
    ----------
    frames : dict
        ``results``, ``sites``, ``flows`` frames (e.g. from
        :func:`wastewater.interop.odm.import_odm`); concentrations [ng/L], flows [m³/day].

    Returns
    -------
    dict of str → bytes
        ``{"sites": …, "flows": …, "results": …}`` (only non-empty frames), UTF-8, comma,
        ``\\n``; headers :data:`SITES_CSV_COLUMNS`, :data:`FLOWS_CSV_COLUMNS`,
        :data:`RESULTS_CSV_COLUMNS`. A censored result is written as an empty ``value`` with
        ``qualifier`` ``<LOQ``/``<LOD``/``ND`` and its limits, which the parser reads back as
        the same ``censor``, ``loq_ng_per_l`` and ``lod_ng_per_l``.
    """
    out: dict[str, bytes] = {}
    s = frames.get("sites")
    if s is not None and len(s):
        s = odm.normalise_sites(s)
        out["sites"] = _csv(SITES_CSV_COLUMNS, (
            [r.site, r.name, r.municipality, str(int(r.population)),
             "" if pd.isna(r.population_year) else str(int(r.population_year)),
             r.population_method, _num(r.lat), _num(r.lon), _text(r.treatment_plant)]
            for r in s.itertuples(index=False)))
    f = frames.get("flows")
    if f is not None and len(f):
        f = odm.normalise_flows(f)
        out["flows"] = _csv(FLOWS_CSV_COLUMNS, (
            [r.site, _date(r.date), _num(r.flow_m3_per_day)] for r in f.itertuples(index=False)))
    r = frames.get("results")
    if r is not None and len(r):
        r = odm.normalise_results(r)
        out["results"] = _csv(RESULTS_CSV_COLUMNS, (
            [x.sample_id, x.site, _date(x.sample_date), x.analyte, *_value_cells(x),
             _num(x.flow_m3_per_day), str(int(x.composite_hours)), str(int(x.replicate)),
             x.sample_role, _text(x.lab), _text(x.method), _text(x.comment)]
            for x in r.itertuples(index=False)))
    return out


def upload_filename(source: str, kind: str) -> str:
    """File name recorded for the converted upload: ``odm_<source>_<kind>.csv``."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", source).strip("-.") or "odm"
    return f"odm_{safe[:80]}_{kind}.csv"


# --------------------------------------------------------------------------- storage I/O
def load_odm_export(engine: Engine, *, sites: Iterable[str] | None = None,
                    analytes: Iterable[str] | None = None, start: dt.date | None = None,
                    end: dt.date | None = None) -> dict[str, pd.DataFrame]:
    """
    PHES-ODM tables of the stored current results (all sample roles), sites (every population
    year) and flows.

    Parameters
    ----------
    engine : sqlalchemy.engine.Engine
    sites, analytes : iterable of str, optional
        Filters (canonical analyte ids); ``None`` = all.
    start, end : date, optional
        Inclusive sample-date / flow-date range.

    Returns
    -------
    dict of str → pd.DataFrame
        :func:`wastewater.interop.odm.export_odm` output. Only sites with results (or flows in
        the range) are written.
    """
    from wastewater.storage import repository as repo

    sites = None if sites is None else list(sites)
    analytes = None if analytes is None else list(analytes)
    results = repo.load_results(engine, sites=sites, analytes=analytes, start=start, end=end,
                                roles=None)
    flows = repo.load_flows(engine, sites=sites, start=start, end=end)
    used = set(results["site"]) | set(flows["site"])
    attrs = repo.load_sites(engine)
    attrs = attrs[attrs["site"].isin(used)]
    pops = repo.load_populations(engine, sites=sorted(used)).rename(
        columns={"year": "population_year", "method": "population_method"})
    if len(pops):
        site_rows = (attrs.drop(columns=["population", "population_year", "population_method"],
                                errors="ignore").merge(pops, on="site", how="inner"))
    else:
        site_rows = attrs
    return odm.export_odm(results, site_rows, flows)


@dataclasses.dataclass(frozen=True)
class OdmFileOutcome:
    """One converted upload of an ODM import: its kind, file name, validation report and, when
    the storage step ran, the :class:`wastewater.storage.service.IngestOutcome`.
    """

    kind: str
    filename: str
    report: Any
    outcome: Any = None

    @property
    def rejected(self) -> bool:
        return (not self.report.ok) if self.outcome is None else bool(self.outcome.rejected)

    def to_dict(self) -> dict[str, Any]:
        if self.outcome is not None:
            d = dict(self.outcome.to_dict())
        else:
            d = {"upload_id": None, "stored": False, "duplicate": False,
                 "report": self.report.to_dict()}
        return {"kind": self.kind, "filename": self.filename, **d}


def import_odm_tables(engine: Engine, tables: dict[str, pd.DataFrame], *, source: str,
                      uploader: str, today: dt.date | None = None,
                      allowed_sites: frozenset[str] | None = None,
                      sites_writable: bool = True) -> list[OdmFileOutcome]:
    """
    Store PHES-ODM tables as the service's own ``sites``/``flows``/``results`` uploads.

    Parameters
    ----------
    engine : sqlalchemy.engine.Engine
        Migrated service database.
    tables : dict
        ODM tables (:func:`wastewater.interop.odm.read_odm_csv`).
    source : str
        Name of the ODM source (directory or archive); part of each upload's file name
        (:func:`upload_filename`).
    uploader : str
        Recorded on each upload and in ``audit_log`` (the normal ingest path).
    today : date, optional
        Passed to the parser (future-date checks).
    allowed_sites : frozenset of str, optional
        When given, any row naming another site rejects the whole import (site-scoped keys).
    sites_writable : bool, default True
        False: the import may not add or change sites or populations (a dry run of the
        converted sites file must find every row unchanged), as for callers who may not upload
        sites files (``POST /uploads/sites`` is admin-only).

    Returns
    -------
    list of OdmFileOutcome
        In :data:`UPLOAD_ORDER`. All converted files are validated first (sites of the import
        count as known); if any has an error nothing is stored and the list holds the reports
        only (``outcome`` is ``None``). Otherwise each file is stored with
        :func:`wastewater.storage.service.ingest_bytes` (``on_error="reject"``); identical
        files stored before are reported as duplicates, so re-importing is idempotent.

    Raises
    ------
    ValueError
        The ODM tables cannot be converted (unknown measure code or unit, missing sample);
        or a site outside ``allowed_sites`` (message names it).
    PermissionError
        ``sites_writable`` is False and the sites table would add or change rows; nothing
        stored.
    """
    import sqlalchemy as sa

    from wastewater.ingest import parse_upload
    from wastewater.storage import tables as t
    from wastewater.storage.database import connect
    from wastewater.storage.service import ingest_bytes

    frames = odm.import_odm(tables)
    if allowed_sites is not None:
        named = set()
        for f in frames.values():
            if len(f):
                named |= set(f["site"])
        outside = sorted(named - set(allowed_sites))
        if outside:
            raise ValueError(f"site(s) {outside} are outside this key's scope "
                             f"{sorted(allowed_sites)}; import only your own sites")
    files = upload_csvs(frames)
    with connect(engine) as conn:
        known = set(conn.execute(sa.select(t.sites.c.site)).scalars())
    known |= set(frames["sites"]["site"]) if len(frames["sites"]) else set()
    checked = []
    for kind in UPLOAD_ORDER:
        if kind not in files:
            continue
        name = upload_filename(source, kind)
        parsed = parse_upload(files[kind], kind, known_sites=known, filename=name, today=today)
        checked.append(OdmFileOutcome(kind, name, parsed.report))
    if any(c.rejected for c in checked):
        return checked
    if not sites_writable and "sites" in files:
        dry = ingest_bytes(engine, files["sites"], kind="sites",
                           filename=upload_filename(source, "sites"), uploader=uploader,
                           dry_run=True, today=today)
        changed = 0 if dry.duplicate else dry.rows_inserted + dry.rows_superseded
        if changed:
            raise PermissionError(
                f"the ODM sites table would add or change {changed} site/population row(s); "
                "only keys that may upload sites files (admin) may do that. Import without "
                "sites.csv/extPopulations.csv, or ask an admin")
    stored = []
    for c in checked:
        out = ingest_bytes(engine, files[c.kind], kind=c.kind, filename=c.filename,
                           uploader=uploader, on_error="reject", today=today)
        stored.append(OdmFileOutcome(c.kind, c.filename, out.report, out))
        if out.rejected:  # changed meanwhile (concurrent upload): stop at the first rejection
            break
    return stored


def default_week_start(year: int) -> dt.date:
    """First Wednesday on or after 1 March of ``year``
    (:func:`wastewater.interop.euda.campaign_dates`; EUDA campaigns run March–May).
    """
    wednesday: dt.date = euda.campaign_dates(year)["Wed"].date()
    return wednesday


def euda_campaign_rows(engine: Engine, *, sites: Iterable[str], week_start: dt.date,
                       analytes: Iterable[str] | None = None, loq_method: str = "loq_half",
                       ) -> list[dict[str, Any]]:
    """
    The service's campaign week as EUDA all-data rows, one per site × EUDA analyte with data.

    Parameters
    ----------
    engine : sqlalchemy.engine.Engine
    sites : iterable of str
    week_start : date
        The campaign Wednesday (EUDA columns run Wednesday…Tuesday).
    analytes : iterable of str, optional
        Canonical ids; default every analyte EUDA reports
        (:data:`wastewater.interop.euda.ANALYTE_TO_METABOLITE`).
    loq_method : str, default "loq_half"
        Substitution for censored days in the daily series (they are written as ``0`` in the
        row anyway, as EUDA does).

    Returns
    -------
    list of dict
        :func:`wastewater.interop.euda.campaign_row` rows: daily
        ``load_mg_per_day_per_1000`` [mg day⁻¹ (1000 inh)⁻¹] from
        :func:`wastewater.analysis.load_dataset` (the daily-series store: stored flows, de jure
        population; another ``loq_method`` built from the raw results), rounded
        to two decimals, and EUDA's weekday/weekend/daily means. Site × analyte pairs without
        any result in the week are left out. ``City`` = the site's municipality,
        ``Country`` = the first two letters of the site id.

    Raises
    ------
    ValueError
        ``week_start`` is not a Wednesday, or an analyte EUDA does not report.
    """
    from wastewater.analysis import load_dataset
    from wastewater.storage import repository as repo

    start = euda.campaign_week_start(week_start)
    wanted = list(euda.ANALYTE_TO_METABOLITE) if analytes is None else list(analytes)
    euda.check_euda_analytes(wanted)
    sites = list(sites)
    end = (start + pd.Timedelta(days=6)).date()
    ds = load_dataset(engine, sites, analytes=wanted, start=start.date(), end=end, loq_method=loq_method)
    if ds is None:
        return []
    city = dict(zip(*[repo.load_sites(engine)[c] for c in ("site", "municipality")]))
    rows = []
    for site in sorted(sites):
        for analyte in sorted(wanted):
            if site not in ds["site"].values or analyte not in ds["analyte"].values:
                continue
            sel = ds.sel(site=site, analyte=analyte)
            if not bool((sel["n_replicates"] > 0).any()):
                continue  # no result of this pair in the week
            daily = sel["load_mg_per_day_per_1000"].to_series()
            cens = sel["censored"].to_series().astype(bool)
            rows.append(euda.campaign_row(daily, week_start=start.date(), analyte=analyte,
                                          site_id=site, country=site[:2],
                                          city=city.get(site, site), censored=cens))
    return rows


