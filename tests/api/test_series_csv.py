"""/series values, ETag/304, Last-Modified, CSV dialects, formula injection, netCDF, intervals."""

from __future__ import annotations

import io

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from wastewater.csvout import neutralise, records_to_csv

B = "/api/v1"
Q = "site=SE-BIG&analyte=benzoylecgonine"


def test_daily_values_hand_computed(clients):
    r = clients["viewer"].get(f"{B}/series?{Q}&measure=load_per_1000")
    body = r.json()
    assert body["value_field"] == "load_mg_per_day_per_1000" and body["unit"] == "mg/day/1000 inhabitants"
    pts = body["points"]
    # 100 ng/L x 10 000 m3/day = 1 000 mg/day; / 25.3 thousand inhabitants
    assert pts[0]["load_mg_per_day_per_1000"] == pytest.approx(1000 / 25.3)
    assert pts[3]["censored"] is True and pts[3]["load_mg_per_day_per_1000"] == pytest.approx(50 / 25.3)  # LOQ/2
    conc = clients["viewer"].get(f"{B}/series?{Q}&measure=concentration&loq_method=zero").json()
    assert conc["points"][1]["concentration_ng_per_l"] == pytest.approx(101.0)
    assert conc["points"][3]["concentration_ng_per_l"] == 0.0
    load = clients["viewer"].get(f"{B}/series?{Q}&measure=load&from=2025-01-10&to=2025-01-11").json()
    assert [p["date"] for p in load["points"]] == ["2025-01-10", "2025-01-11"]
    assert load["points"][0]["load_mg_per_day"] == pytest.approx(104 * 10.0)


def test_consumption_and_analytic_interval(clients):
    import math

    from wastewater.parameters import get_correction_factor
    from wastewater.uncertainty import Z_975, SeriesTerm, combined_rsd, first_order_sigma

    cf = get_correction_factor("cocaine-be-zuccato2008")
    r = clients["viewer"].get(f"{B}/series?{Q}&measure=consumption&cf_id={cf.cf_id}&ci=analytic").json()
    p0 = r["points"][0]
    v = p0["consumption_mg_per_day_per_1000"]
    assert v == pytest.approx(1000 / 25.3 * cf.correction_factor)
    var = "consumption_mg_per_day_per_1000"
    for kind in ("level", "change"):
        sig = first_order_sigma([SeriesTerm("SE-BIG", "benzoylecgonine", ["2025-01-06"], [1.0])],
                                variable=var, kind=kind)
        lo, hi = p0[f"{kind}_lo95_mg_per_day_per_1000"], p0[f"{kind}_hi95_mg_per_day_per_1000"]
        assert (lo, hi) == (pytest.approx(v * math.exp(-Z_975 * sig)), pytest.approx(v * math.exp(Z_975 * sig)))
    # change (analysis, sampling, flow reading: 19.3 % on the log scale) inside level (+ flow bias,
    # population, CF: 41.0 %)
    assert (p0["level_lo95_mg_per_day_per_1000"] < p0["change_lo95_mg_per_day_per_1000"] < v
            < p0["change_hi95_mg_per_day_per_1000"] < p0["level_hi95_mg_per_day_per_1000"])
    info = r["intervals"]
    assert info["change"]["components"] == ["analysis", "sampling", "flow_reading"]
    assert info["level"]["components"][-1] == "correction_factor"
    assert info["level"]["hi95_field"] == "level_hi95_mg_per_day_per_1000"
    assert info["level"]["unit"] == r["unit"] and "lo95" not in p0
    bad = clients["viewer"].get(f"{B}/series?{Q}&measure=load&cf_id={cf.cf_id}")
    assert bad.status_code == 422 and bad.json()["errors"][0]["column"] == "cf_id"
    assert combined_rsd(0.3, 0.4) == pytest.approx(0.5)


def test_public_weekly_intervals_are_those_of_the_days_at_the_mean(clients):
    import math

    from wastewater.parameters import default_rsd
    from wastewater.uncertainty import Z_975, components_for, lognormal_sigma

    pub = clients["public"].get(f"{B}/series?{Q}&ci=montecarlo").json()
    an = clients["public"].get(f"{B}/series?{Q}&ci=analytic").json()
    assert pub["aggregation"] == "weekly_mean" and pub["intervals"]["change"]["of"].startswith("weekly")

    def sig(kind):
        return math.sqrt(sum(lognormal_sigma(default_rsd(c)) ** 2
                             for c in components_for("load_mg_per_day_per_1000", kind)))

    for mc_pt, an_pt in zip(pub["points"], an["points"], strict=True):
        v, n = mc_pt["load_mg_per_day_per_1000"], mc_pt["n_days"]
        assert n == 7
        # a public week's bounds are those of its days each at the week's mean (over the days' own
        # values they would carry their spread): the random part shrinks with Σw² = 1/7 (7.7 % sd,
        # about ±15 %); the level band keeps population and flow-meter bias in full
        sum_w2 = 1 / n
        shared = sig("level") ** 2 - sig("change") ** 2
        expect = {"change": 2 * Z_975 * math.sqrt(sig("change") ** 2 * sum_w2),
                  "level": 2 * Z_975 * math.sqrt(sig("change") ** 2 * sum_w2 + shared)}
        for kind, width in expect.items():
            lo, hi = f"{kind}_lo95_mg_per_day_per_1000", f"{kind}_hi95_mg_per_day_per_1000"
            assert math.log(an_pt[hi] / an_pt[lo]) == pytest.approx(width)
            assert math.log(mc_pt[hi] / mc_pt[lo]) == pytest.approx(width, rel=0.1)
        assert an_pt["change_lo95_mg_per_day_per_1000"] < v < an_pt["change_hi95_mg_per_day_per_1000"]
    nc = clients["public"].get(f"{B}/series?{Q}&ci=analytic&format=netcdf")
    from wastewater.export import netcdf_to_dataset

    ds = netcdf_to_dataset(nc.content)
    attrs = ds["load_mg_per_day_per_1000_change_hi95"].attrs
    assert attrs["interval_kind"] == "change" and attrs["bound"] == "upper"
    assert attrs["api_field"] == "change_hi95_mg_per_day_per_1000"
    assert attrs["units"] == ds["load_mg_per_day_per_1000"].attrs["units"]
    assert attrs["components"] == "analysis,sampling,flow_reading"
    assert ds["load_mg_per_day_per_1000_level_lo95"].attrs["interval_kind"] == "level"


def test_etag_304_and_last_modified(clients):
    c = clients["viewer"]
    r = c.get(f"{B}/series?{Q}")
    etag = r.headers["etag"]
    assert r.headers["last-modified"].endswith("GMT")
    again = c.get(f"{B}/series?{Q}", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    other = c.get(f"{B}/series?{Q}&measure=load", headers={"If-None-Match": etag})
    assert other.status_code == 200 and other.headers["etag"] != etag
    lm = r.headers["last-modified"]
    assert c.get(f"{B}/series?{Q}", headers={"If-Modified-Since": lm}).status_code == 304
    assert c.get(f"{B}/series?{Q}", headers={"If-Modified-Since": "Mon, 01 Jan 2001 00:00:00 GMT"}).status_code == 200
    # public (weekly) and viewer (daily) representations differ, so do their ETags
    assert clients["public"].get(f"{B}/series?{Q}").headers["etag"] != etag


def test_csv_dialects_and_formula_injection(clients):
    c = clients["viewer"]
    m = c.get(f"{B}/series?{Q}&format=csv")
    assert m.headers["content-type"].startswith("text/csv")
    lines = m.text.splitlines()
    assert lines[0] == ("site,analyte,date,load_mg_per_day_per_1000,level_lo95_mg_per_day_per_1000,"
                        "level_hi95_mg_per_day_per_1000,change_lo95_mg_per_day_per_1000,"
                        "change_hi95_mg_per_day_per_1000,censored")
    assert lines[1].startswith("SE-BIG,benzoylecgonine,2025-01-06,39.5256916996")
    sv = c.get(f"{B}/series?{Q}&format=csv&dialect=sv").content
    assert sv.startswith(b"\xef\xbb\xbf")
    first = sv.decode("utf-8-sig").splitlines()[1]
    assert first.startswith("SE-BIG;benzoylecgonine;2025-01-06;39,5256916996")
    # the seed's comment '=HYPERLINK("http://evil")' is neutralised in every CSV export
    res = c.get(f"{B}/results?format=csv").text
    assert "'=HYPERLINK" in res and ',=HYPERLINK' not in res and '"=HYPERLINK' not in res
    odm = c.get(f"{B}/export/odm?site=SE-BIG")
    assert odm.status_code == 200 and "'=HYPERLINK" in odm.text


def test_netcdf(clients):

    r = clients["viewer"].get(f"{B}/series?{Q}&format=netcdf")
    assert r.headers["content-type"] == "application/x-netcdf"
    from test_netcdf_cf import _check_cf

    ds = _check_cf(r.content, "load_mg_per_day_per_1000")
    assert ds["load_mg_per_day_per_1000"].attrs["units"] == "ug d-1"   # = mg/day/1000 inhabitants
    assert float(ds["load_mg_per_day_per_1000"][0]) == pytest.approx(1000 / 25.3)
    assert str(ds["site"].item()) == "SE-BIG" and "SE-BIG" in ds.attrs["title"]
    assert ds.attrs["history"].endswith("converted to CF-1.10 netCDF by wastewater.export")
    # the same request gives the same bytes (no clock in the file), so ETags stay valid
    assert clients["viewer"].get(f"{B}/series?{Q}&format=netcdf").content == r.content


@pytest.mark.parametrize("cell,expected", [
    ("=1+1", "'=1+1"), ("+46 70", "'+46 70"), ("-2", "'-2"), ("@SUM(A1)", "'@SUM(A1)"),
    ("\tx", "'\tx"), ("\rx", "'\rx"), ("plain", "plain"), ("", ""), ("a=b", "a=b"),
])
def test_neutralise(cell, expected):
    assert neutralise(cell) == expected


@given(st.text(max_size=30))
def test_no_text_cell_starts_a_formula(text):
    out = records_to_csv([{"c": text, "n": -1.5}], "machine").decode()
    import csv

    rows = list(csv.reader(io.StringIO(out)))
    cell = rows[1][0] if len(rows) > 1 else ""
    assert not cell.startswith(("=", "+", "-", "@", "\t", "\r"))
    assert rows[1][1] == "-1.5"                      # numbers stay numbers


def test_swedish_dialect_numbers():
    out = records_to_csv([{"x": 12.5, "y": 34324, "s": "Nävertorp"}], "sv")
    assert out == "\ufeffx;y;s\r\n12,5;34324;Nävertorp\r\n".encode("utf-8")


def test_smoothing_7day_trailing_median_and_mean(clients):
    from wastewater.smoothing import trailing

    plain = clients["viewer"].get(f"{B}/series?{Q}").json()
    for name, stat in (("median7", "median"), ("mean7", "mean")):
        body = clients["viewer"].get(f"{B}/series?{Q}&smooth={name}").json()
        assert body["smooth"] == name
        pts = body["points"]
        vals = pd.Series([p["load_mg_per_day_per_1000"] for p in plain["points"]], dtype=float,
                         index=pd.to_datetime([p["date"] for p in plain["points"]]))
        want = trailing(vals, statistic=stat)
        got = [p[f"load_mg_per_day_per_1000_{name}"] for p in pts]
        assert got == pytest.approx(list(want), nan_ok=True)
        # by hand: day 7 is the statistic of days 1..7
        first7 = vals.iloc[:7]
        assert got[6] == pytest.approx(first7.median() if stat == "median" else first7.mean())
    csv_text = clients["viewer"].get(f"{B}/series?{Q}&smooth=median7&format=csv").text
    assert "load_mg_per_day_per_1000_median7" in csv_text.splitlines()[0]
    assert clients["public"].get(f"{B}/series?{Q}&smooth=median7").status_code == 422
