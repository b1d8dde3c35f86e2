"""Generate the synthetic demo data in ``samples/`` (seeded, deterministic).

Run ``python samples/make_samples.py`` from the repository root; it rewrites

- ``sites.csv``, ``flows.csv``, ``results.csv``, ``events.csv`` (ingest contract, comma, UTF-8),
- ``results_wide_sv.csv`` (wide, Swedish spreadsheet dialect: ``;``, decimal comma, BOM, µg/m³),
- ``bad_results.csv`` (typical lab mistakes, for the upload-validation demo).

All data are **synthetic**. Levels, weekly shapes and LOQs are chosen to be plausible for a
Swedish town, with sources given in ``samples/README.md`` and next to each constant below:

- population-normalised loads (PNL, mg/day/1000 inh.) near the Swedish EUDA 2024 sites
  (EUDA2025: Karlstad BE 108.6, amphetamine 366.7, MDMA 6.6, THC-COOH 36.8, ketamine 4.0;
  Gävle methamphetamine 6.3);
- weekend/weekday ratios from the EUDA 2024 medians (EUDA2025: BE 1.33, MDMA 1.75);
- LOD/LOQ from BantaGreen2016 where published (BE 1.0/10, MDMA 1.0/2.5,
  methamphetamine 1.5/10 ng/L), otherwise assumed (marked "assumed");
- plant flow ~9 000–11 000 m³/d (SormlandVatten, order of magnitude);
- Swedish calendar dates 2025 from Holidays0109, UnionenPayday (Valborg Wed 30 Apr, midsommarafton
  Fri 20 Jun, nyårsafton Wed 31 Dec, paydays 24 Jan … 23 Dec).

Concentration from load (Zuccato2008, inverted):
``c [ng/L] = PNL [mg/day/1000] * population/1000 [-] * 1e6 [ng/mg] / (Q [m³/day] * 1e3 [L/m³])``.

The script only uses numpy and the standard library so that its output is byte-stable.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
from pathlib import Path

import numpy as np

SEED = 20250101
YEAR = 2025
OUT = Path(__file__).resolve().parent

# --------------------------------------------------------------------------- sites
SITES = [
    # site, name, municipality, population, population_year, lat, lon, treatment_plant
    ("SE-KAT-ROS", "Rosenholms reningsverk", "Katrineholm", 25100, 2024, 58.9905, 16.2130,
     "Rosenholms reningsverk"),
    ("SE-KAT-ROS", "Rosenholms reningsverk", "Katrineholm", 25300, 2025, 58.9905, 16.2130,
     "Rosenholms reningsverk"),
    ("SE-FLN-ARV", "Flen avloppsreningsverk (syntetisk)", "Flen", 11050, 2024, 59.0560, 16.5880,
     "Flen avloppsreningsverk (syntetisk)"),
    ("SE-FLN-ARV", "Flen avloppsreningsverk (syntetisk)", "Flen", 11000, 2025, 59.0560, 16.5880,
     "Flen avloppsreningsverk (syntetisk)"),
    ("SE-KAT-PS1", "Pumpstation PS1, delavrinningsområde (syntetisk)", "Katrineholm", 3480, 2024,
     58.9960, 16.1950, "Rosenholms reningsverk"),
    ("SE-KAT-PS1", "Pumpstation PS1, delavrinningsområde (syntetisk)", "Katrineholm", 3500, 2025,
     58.9960, 16.1950, "Rosenholms reningsverk"),
]
POP_2025 = {s[0]: s[3] for s in SITES if s[4] == 2025}
# mean dry-weather flow per person incl. infiltration, ~0.37-0.40 m³/person/day
# (SormlandVatten: 8 Mm³/yr over ~59 000 inhabitants ≈ 0.37) -> plant mean ~10 000 m³/d
FLOW_BASE_M3_PER_DAY = {"SE-KAT-ROS": 9700.0, "SE-FLN-ARV": 4300.0, "SE-KAT-PS1": 1250.0}

# --------------------------------------------------------------------------- analytes
# target annual mean PNL [mg/day/1000 inh.]; see module docstring for the anchors
PNL_MG_PER_DAY_PER_1000 = {
    "benzoylecgonine": 90.0,
    "cocaine": 30.0,  # parent cocaine in influent, assumed ~1/3 of BE (dumping checks: ratio)
    "amphetamine": 350.0,
    "methamphetamine": 2.0,
    "mdma": 10.0,
    "thc-cooh": 40.0,
    "ketamine": 3.0,
    "tramadol": 60.0,  # assumed, order of magnitude of European prescription-opioid loads
}
# (LOD, LOQ) in ng/L: BantaGreen2016 for BE, MDMA, methamphetamine; others assumed
LOD_LOQ_NG_PER_L = {
    "benzoylecgonine": (1.0, 10.0),
    "cocaine": (1.0, 2.5),  # assumed
    "amphetamine": (2.0, 10.0),  # assumed
    "methamphetamine": (1.5, 10.0),
    "mdma": (1.0, 2.5),
    "thc-cooh": (3.0, 10.0),  # assumed
    "ketamine": (1.0, 2.5),  # assumed
    "tramadol": (1.0, 2.5),  # assumed
}
ANALYTES = list(PNL_MG_PER_DAY_PER_1000)
# weekday profile, Monday=0 … Sunday=6, labelled by collection start day.  BE and MDMA shaped like
# the Stockholm (2) 2024 profile (EUDA2025) and scaled so that mean(Fri,Sat,Sun,Mon) /
# mean(Tue,Wed,Thu) equals the EUDA 2024 median ratio: BE 1.30, MDMA 1.75; ketamine 1.13.
_SHAPE = {
    "benzoylecgonine": [1.15, 1.0, 1.0, 1.0, 1.10, 1.45, 1.50],
    "mdma": [1.45, 1.0, 1.0, 1.0, 1.30, 2.60, 1.65],
    "ketamine": [1.10, 1.0, 1.0, 1.0, 1.05, 1.20, 1.17],
}
_SHAPE["cocaine"] = _SHAPE["benzoylecgonine"]
WEEKDAY_PROFILE = {a: np.array(_SHAPE.get(a, [1.0] * 7)) for a in ANALYTES}
# log-scale AR(1) day-to-day variation (phi, innovation sd) and lab measurement noise sd
AR_PHI = 0.6
AR_SD = {"default": 0.10, "mdma": 0.18, "ketamine": 0.20, "methamphetamine": 0.25}
MEAS_SD = 0.06

# --------------------------------------------------------------------------- calendar (2025)
VALBORG = [dt.date(2025, 4, 30), dt.date(2025, 5, 1)]
MIDSOMMAR = [dt.date(2025, 6, 20), dt.date(2025, 6, 21), dt.date(2025, 6, 22)]
NYAR = [dt.date(2025, 1, 1), dt.date(2025, 12, 31)]
# payday (Holidays0109, UnionenPayday list) -> lönehelg = first Fri-Sun on/after payday
PAYDAYS = [dt.date(2025, m, d) for m, d in [(1, 24), (2, 25), (3, 25), (4, 25), (5, 23), (6, 25),
                                            (7, 25), (8, 25), (9, 25), (10, 24), (11, 25),
                                            (12, 23)]]


def payday_weekends(paydays: list[dt.date]) -> list[dt.date]:
    """Fri, Sat, Sun of the first weekend on or after each payday (Holidays0109, UnionenPayday)."""
    out = []
    for p in paydays:
        fri = p + dt.timedelta(days=(4 - p.weekday()) % 7)
        out += [fri, fri + dt.timedelta(days=1), fri + dt.timedelta(days=2)]
    return out


PAYDAY_WEEKENDS = payday_weekends(PAYDAYS)
RISK_MULT = {  # multiplicative effects on PNL on the listed sample days
    "holiday": {"mdma": 2.5, "benzoylecgonine": 1.5, "cocaine": 1.5, "ketamine": 1.6},
    "payday": {"mdma": 1.5, "benzoylecgonine": 1.2, "cocaine": 1.2},
}

# --------------------------------------------------------------------------- events
EVENTS = [
    # event_id, kind, start, end, sites, substances, description, confidential
    ("EV-2025-01", "school_search", "2025-02-12", "2025-02-12", "SE-KAT-ROS", "thc-cooh",
     "Förebyggande narkotikasök med hund på gymnasieskola", False),
    ("EV-2025-02", "operation", "2025-03-10", "2025-03-21", "SE-KAT-ROS",
     "benzoylecgonine;cocaine",
     "Riktad insats mot kokainförsäljning i centrum (Fabriksgatan, Lövatunneln)", False),
    ("EV-2025-03", "campaign", "2025-04-22", "2025-04-30", "",
     "", "Antilangningskampanj inför Valborg", False),
    ("EV-2025-04", "operation", "2025-06-02", "2025-06-04", "SE-FLN-ARV", "",
     "Riktad insats i Flen (ingen effekt inlagd)", False),
    ("EV-2025-05", "operation", "2025-09-03", "2025-09-05", "SE-KAT-ROS;SE-KAT-PS1",
     "mdma;cocaine;benzoylecgonine",
     "Riktad insats med husrannsakningar i Nävertorp", False),
    ("EV-2025-06", "safety_walk", "2025-10-08", "2025-10-08", "SE-KAT-ROS", "",
     "Trygghetsvandring i centrum, kväll", False),
    ("EV-2025-07", "operation", "2025-11-10", "2025-11-14", "SE-KAT-ROS", "amphetamine",
     "Riktad insats mot amfetaminhantering (sekretessbelagd)", True),
]
# embedded effects, as multipliers on PNL for (site, analyte) within [start, end]
EFFECTS = [
    # 25 % drop in BE (and parent cocaine) from the start of EV-2025-02 until 4 weeks after its end
    ("SE-KAT-ROS", ("benzoylecgonine", "cocaine"), "2025-03-10", "2025-04-18", 0.75),
    ("SE-KAT-PS1", ("benzoylecgonine", "cocaine"), "2025-03-10", "2025-04-18", 0.75),
    # dumping during EV-2025-05: parent cocaine x6 and MDMA x5 but BE only x1.3 (high COC/BE)
    ("SE-KAT-ROS", ("cocaine",), "2025-09-03", "2025-09-04", 6.0),
    ("SE-KAT-ROS", ("mdma",), "2025-09-03", "2025-09-04", 5.0),
    ("SE-KAT-ROS", ("benzoylecgonine",), "2025-09-03", "2025-09-04", 1.3),
    ("SE-KAT-PS1", ("cocaine",), "2025-09-03", "2025-09-04", 15.0),
    ("SE-KAT-PS1", ("mdma",), "2025-09-03", "2025-09-04", 12.0),
    # 20 % amphetamine drop for three weeks after the confidential operation EV-2025-07
    ("SE-KAT-ROS", ("amphetamine",), "2025-11-10", "2025-12-05", 0.80),
]

# --------------------------------------------------------------------------- sampling design
COMPOSITE_72H_START = dt.date(2025, 8, 15)  # Fri 15 Aug -> Mon 18 Aug, one 72 h composite
REPLICATE_DAYS = [dt.date(2025, m, 1) for m in (2, 5, 8, 11)]  # duplicate analysis on these days
BLANK_DAYS = [dt.date(2025, m, 15) for m in (1, 4, 7, 10)]
LAB_A = ("Syntetiskt lab A", "SPE-LC-MS/MS")
LAB_B = ("Syntetiskt lab B", "Direktinjektion LC-MS/MS")


def days_of_year(year: int) -> list[dt.date]:
    d0 = dt.date(year, 1, 1)
    return [d0 + dt.timedelta(days=i) for i in range((dt.date(year + 1, 1, 1) - d0).days)]


def flow_series(rng: np.random.Generator, site: str, days: list[dt.date]) -> np.ndarray:
    """Daily flow [m³/day]: seasonal cycle (snowmelt April, wet autumn) + rain events + noise."""
    doy = np.array([d.timetuple().tm_yday for d in days], dtype=float)
    seasonal = (0.06 * np.cos(2 * np.pi * (doy - 105) / 365.25)
                + 0.03 * np.cos(4 * np.pi * (doy - 300) / 365.25))
    rain = np.zeros(len(days))
    for i in range(len(days)):
        if rng.random() < 0.06:  # ~22 rain events a year, decaying inflow/infiltration
            amp = rng.uniform(0.08, 0.35)
            for k in range(i, min(i + 5, len(days))):
                rain[k] += amp * 0.5 ** (k - i)
    noise = rng.normal(0.0, 0.025, len(days))
    return FLOW_BASE_M3_PER_DAY[site] * (1 + seasonal + rain + noise)


def ar1(rng: np.random.Generator, n: int, phi: float, sd: float) -> np.ndarray:
    e = rng.normal(0.0, sd, n)
    x = np.empty(n)
    x[0] = e[0] / math.sqrt(1 - phi**2)
    for i in range(1, n):
        x[i] = phi * x[i - 1] + e[i]
    return x


def pnl_series(rng: np.random.Generator, site: str, analyte: str,
               days: list[dt.date]) -> np.ndarray:
    """True PNL [mg/day/1000] per day incl. weekday profile, risk days and embedded effects."""
    prof = WEEKDAY_PROFILE[analyte]
    base = PNL_MG_PER_DAY_PER_1000[analyte] / prof.mean()
    wd = np.array([d.weekday() for d in days])
    x = base * prof[wd] * np.exp(ar1(rng, len(days), AR_PHI, AR_SD.get(analyte, AR_SD["default"])))
    hol = set(VALBORG + MIDSOMMAR + NYAR)
    pay = set(PAYDAY_WEEKENDS)
    for i, d in enumerate(days):
        if d in hol:
            x[i] *= RISK_MULT["holiday"].get(analyte, 1.0)
        elif d in pay:
            x[i] *= RISK_MULT["payday"].get(analyte, 1.0)
    for s, analytes, start, end, mult in EFFECTS:
        if s == site and analyte in analytes:
            a, b = dt.date.fromisoformat(start), dt.date.fromisoformat(end)
            for i, d in enumerate(days):
                if a <= d <= b:
                    x[i] *= mult
    return x


def fmt_num(x: float, sig: int = 3) -> str:
    """Round to ``sig`` significant figures, plain decimal notation (lab style)."""
    if x == 0 or not math.isfinite(x):
        return "0"
    dec = max(0, sig - 1 - int(math.floor(math.log10(abs(x)))))
    return f"{round(x, dec):.{dec}f}"


RESULT_COLS = ["sample_id", "site", "sample_date", "analyte", "value", "unit", "qualifier", "loq",
               "lod", "flow_m3_per_day", "composite_hours", "replicate", "sample_role", "lab",
               "method", "comment"]


def sampled_days(site: str, days: list[dt.date]) -> list[dt.date]:
    if site == "SE-KAT-ROS":  # daily, except the 72 h weekend composite replaces Sat-Sun-Mon
        skip = {COMPOSITE_72H_START + dt.timedelta(days=k) for k in (1, 2, 3)}
        return [d for d in days if d not in skip]
    if site == "SE-FLN-ARV":  # Tuesday and Saturday every week + event windows daily
        extra = {dt.date(2025, 6, 1) + dt.timedelta(days=k) for k in range(7)}
        return [d for d in days if d.weekday() in (1, 5) or d in extra]
    # pumping station: Saturdays + two daily weeks around the dumping operation
    # (the week in results_wide_sv.csv is left out here: it ships as the wide file instead)
    extra = {dt.date(2025, 9, 1) + dt.timedelta(days=k) for k in range(7)}
    return [d for d in days if (d.weekday() == 5 or d in extra) and d not in WIDE_WEEK]


def make_results(rng: np.random.Generator, days: list[dt.date],
                 flows: dict[str, np.ndarray]) -> tuple[list[dict], dict]:
    """Long result rows and the true PNL series {(site, analyte): array} behind them."""
    rows: list[dict] = []
    truth: dict = {}
    index = {d: i for i, d in enumerate(days)}
    for site in ("SE-KAT-ROS", "SE-FLN-ARV", "SE-KAT-PS1"):
        pop = POP_2025[site]
        lab, method = LAB_B if site == "SE-FLN-ARV" else LAB_A
        code = site.split("-")[-1]
        analytes = ANALYTES if site != "SE-FLN-ARV" else ANALYTES[:-1]  # Flen lab: no tramadol
        pnl = {a: pnl_series(rng, site, a, days) for a in analytes}
        truth.update({(site, a): v for a, v in pnl.items()})
        for d in sampled_days(site, days):
            i = index[d]
            hours = 72 if (site == "SE-KAT-ROS" and d == COMPOSITE_72H_START) else 24
            span = range(i, min(i + hours // 24, len(days)))
            q = float(np.mean([flows[site][k] for k in span]))
            sid = f"{code}-{d:%Y%m%d}"
            for a in analytes:
                load_mg_per_day = float(np.mean([pnl[a][k] for k in span])) * pop / 1000.0
                true_ng_per_l = load_mg_per_day * 1e6 / (q * 1e3)
                nrep = 2 if (d in REPLICATE_DAYS and site == "SE-KAT-ROS") else 1
                for rep in range(1, nrep + 1):
                    meas = true_ng_per_l * math.exp(rng.normal(0.0, MEAS_SD))
                    rows.append(result_row(sid, site, d, a, meas, lab, method, hours,
                                           q if site == "SE-FLN-ARV" else None, rep, "sample",
                                           style="lt" if site == "SE-FLN-ARV" else "qualifier",
                                           comment=("72 h samlingsprov fre-mån" if hours == 72
                                                    else None)))
        if site == "SE-KAT-ROS":
            for d in BLANK_DAYS:
                for a in ("benzoylecgonine", "amphetamine", "mdma"):
                    meas = rng.uniform(0.2, 0.9)  # below LOD: clean field blank
                    rows.append(result_row(f"{code}-BLK-{d:%Y%m%d}", site, d, a, meas, lab,
                                           method, 24, None, 1, "blank", style="qualifier",
                                           comment="fältblank"))
    return rows, truth


def result_row(sid, site, d, analyte, meas, lab, method, hours, flow, rep, role, *, style,
               comment=None) -> dict:
    lod, loq = LOD_LOQ_NG_PER_L[analyte]
    value, qual = fmt_num(meas), ""
    if meas < lod:
        value, qual = ("", "<LOD") if style == "qualifier" else (f"<{lod:g}", "")
    elif meas < loq:
        value, qual = ("", "<LOQ") if style == "qualifier" else (f"<{loq:g}", "")
    return {
        "sample_id": sid, "site": site, "sample_date": d.isoformat(), "analyte": analyte,
        "value": value, "unit": "ng/L", "qualifier": qual, "loq": f"{loq:g}",
        "lod": f"{lod:g}", "flow_m3_per_day": "" if flow is None else f"{flow:.0f}",
        "composite_hours": str(hours), "replicate": str(rep), "sample_role": role,
        "lab": lab, "method": method, "comment": comment or "",
    }


# --------------------------------------------------------------------------- wide Swedish file
SV_NAMES = {"benzoylecgonine": "Bensoylekgonin", "amphetamine": "Amfetamin",
            "methamphetamine": "Metamfetamin", "mdma": "MDMA", "thc-cooh": "THC-COOH",
            "ketamine": "Ketamin"}
WIDE_WEEK = [dt.date(2025, 10, 1) + dt.timedelta(days=k) for k in range(7)]  # Wed 1 - Tue 7 Oct


def make_wide_sv(rng: np.random.Generator, days: list[dt.date], flows: dict[str, np.ndarray],
                 truth: dict) -> str:
    """One week (Wed 1 - Tue 7 Oct 2025) for SE-KAT-PS1 as a Swedish spreadsheet saves it:
    semicolon, decimal comma, UTF-8 BOM, CRLF, unit µg/m³ (= ng/L) in the column headers."""
    index = {d: i for i, d in enumerate(days)}
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=";", lineterminator="\r\n")
    w.writerow(["sample_id", "site", "sample_date", "composite_hours", "flow_m3_per_day"]
               + [f"{SV_NAMES[a]} (µg/m³)" for a in SV_NAMES])
    pop = POP_2025["SE-KAT-PS1"]
    for d in WIDE_WEEK:
        i = index[d]
        q = float(flows["SE-KAT-PS1"][i])
        row = [f"PS1-{d:%Y%m%d}", "SE-KAT-PS1", d.isoformat(), "24", f"{q:.0f}"]
        for a in SV_NAMES:
            c = truth[("SE-KAT-PS1", a)][i] * pop / 1000.0 * 1e6 / (q * 1e3)
            c *= math.exp(rng.normal(0.0, MEAS_SD))
            lod, loq = LOD_LOQ_NG_PER_L[a]
            text = f"<{loq:g}" if c < loq else fmt_num(c)
            row.append(text.replace(".", ","))
        w.writerow(row)
    return "\ufeff" + buf.getvalue()


# --------------------------------------------------------------------------- bad file
BAD_ROWS = [
    # (row dict overrides, expected problem) - line numbers are physical lines (header = 1)
    ({"analyte": "kokainmetabolit"}, "unknown analyte"),
    ({"unit": "mg/m3x"}, "unknown unit"),
    ({"sample_date": "2025-13-01"}, "invalid date"),
    ({"value": "12,5"}, "decimal comma in a comma-separated file"),
    ({"value": "-4.2"}, "negative concentration"),
    ({"site": "SE-KAT-XXX"}, "unknown site"),
    ({"value": "n.a."}, "non-numeric value"),
    ({"value": "", "qualifier": ""}, "empty value without qualifier"),
    ({"sample_date": "2031-01-01"}, "date in the future"),
    ({"sample_role": "kontroll"}, "unknown sample role"),
]


def make_bad(results: list[dict]) -> tuple[str, list[tuple[int, str]]]:
    good = [r for r in results if r["site"] == "SE-KAT-ROS" and r["sample_role"] == "sample"
            and r["qualifier"] == "" and r["sample_date"].startswith("2025-05")][:14]
    rows, expected = [], []
    bad_iter = iter(BAD_ROWS)
    for k, r in enumerate(good):
        r = dict(r, sample_id=r["sample_id"] + "-B", comment="")
        if k % 3 == 1:
            over, why = next(bad_iter, ({}, None))
            if why:
                r.update(over)
                expected.append((len(rows) + 2, why))
        rows.append(r)
    for over, why in bad_iter:
        r = dict(good[-1], sample_id=good[-1]["sample_id"] + f"-X{len(rows)}", comment="")
        r.update(over)
        expected.append((len(rows) + 2, why))
        rows.append(r)
    # an exact duplicate of the first row
    rows.append(dict(rows[0]))
    expected.append((len(rows) + 1, "duplicate row"))
    return to_csv(RESULT_COLS, rows), expected


# --------------------------------------------------------------------------- writers
def to_csv(cols: list[str], rows: list[dict]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


def build() -> dict[str, str]:
    """Return {file name: text} for every sample file (pure; no I/O)."""
    rng = np.random.default_rng(SEED)
    days = days_of_year(YEAR)
    flows = {s: flow_series(rng, s, days) for s in FLOW_BASE_M3_PER_DAY}
    files: dict[str, str] = {}
    files["sites.csv"] = to_csv(
        ["site", "name", "municipality", "population", "population_year", "lat", "lon",
         "treatment_plant"],
        [dict(zip(["site", "name", "municipality", "population", "population_year", "lat", "lon",
                   "treatment_plant"], map(str, s))) for s in SITES])
    files["flows.csv"] = to_csv(
        ["site", "date", "flow_m3_per_day"],
        [{"site": s, "date": d.isoformat(), "flow_m3_per_day": f"{flows[s][i]:.0f}"}
         for s in FLOW_BASE_M3_PER_DAY for i, d in enumerate(days)])
    results, truth = make_results(rng, days, flows)
    files["results.csv"] = to_csv(RESULT_COLS, results)
    files["events.csv"] = to_csv(
        ["event_id", "kind", "start", "end", "sites", "substances", "description",
         "confidential"],
        [dict(zip(["event_id", "kind", "start", "end", "sites", "substances", "description"],
                  e[:7]), confidential="true" if e[7] else "false") for e in EVENTS])
    files["results_wide_sv.csv"] = make_wide_sv(rng, days, flows, truth)
    files["bad_results.csv"], _ = make_bad(results)
    return files


def expected_bad_lines() -> list[tuple[int, str]]:
    """Physical line numbers (header = 1) and the mistake planted there in bad_results.csv."""
    rng = np.random.default_rng(SEED)
    days = days_of_year(YEAR)
    flows = {s: flow_series(rng, s, days) for s in FLOW_BASE_M3_PER_DAY}
    return make_bad(make_results(rng, days, flows)[0])[1]


def main() -> None:
    for name, text in build().items():
        (OUT / name).write_bytes(text.encode("utf-8"))
        print(f"wrote samples/{name} ({text.count(chr(10))} lines)")


if __name__ == "__main__":
    main()
