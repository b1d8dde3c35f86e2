"""Operating characteristics and run time of the operation test (writes benchmarks/reports/bench_stats.md).

Part 1 (simulation, seeded, batched estimator = the per-series function): false-positive rate
at α = 0.05 and 95 % CI coverage of ``operation_effect`` defaults in every cell of φ ∈ {0, 0.5,
0.7} × σ ∈ {0.12, 0.2, 0.3} × CV ∈ {5, 10, 20 %} (weekday cycle, 5 % missing days, ~10 %
censored, 26 weeks of history, 7-day operation, 8 weeks after); power for a −25 % step at φ 0.5,
σ 0.2, CV 10 % against weeks of history; a marked ×2 method change inside the window.

Part 2 (timing): every operation test for ``--sites`` × 20 analytes × 10 events (one year of
daily data per series) by the batch (:func:`wastewater.stats.batch.operation_table`) and by a
naive per-test loop (pandas slicing, design, ``statsmodels`` ``GLSAR(...).iterative_fit``) over
the same series in the same run; the batch estimates are compared with ``operation_effect``
on a sample of tests.

Usage: ``.venv/bin/python benchmarks/bench_stats.py [--replicates 1000] [--sites 300]
[--skip-grid] [--skip-timing]``.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import warnings
from pathlib import Path

import numba
import numpy as np
import pandas as pd
import statsmodels.api as sm

from wastewater.stats.batch import operation_table
from wastewater.stats.effects import NotEstimableError, operation_effect, operation_effects_batch
from wastewater.stats.simulate import simulate_series

REPORT = Path(__file__).parent / "reports" / "bench_stats.md"
START = pd.Timestamp("2024-01-01")
GRID = [(phi, sd, cv) for phi in (0.0, 0.5, 0.7) for sd in (0.12, 0.2, 0.3)
        for cv in (0.05, 0.10, 0.20)]


def binom_se(p: float, n: int) -> float:
    return float(np.sqrt(max(p * (1 - p), 1e-12) / n))


def run_cell(n_rep, seed, *, step=0.0, history_weeks=26, method_change=None, chunk=500, **sim):
    rng = np.random.default_rng(seed)
    ev_start = START + pd.Timedelta(weeks=history_weeks)
    ev_end = ev_start + pd.Timedelta(days=6)
    n_days = 7 * history_weeks + 7 + 56
    mc_date = START + pd.Timedelta(days=7 * history_weeks // 2)
    rej = cov = n_ok = 0
    for s0 in range(0, n_rep, chunk):
        series, tests, changes = {}, [], {}
        for r in range(s0, min(s0 + chunk, n_rep)):
            df = simulate_series(n_days, START, seed=rng, step_date=ev_start,
                                 step_relative_change=step,
                                 method_change_date=mc_date if method_change else None,
                                 method_change_factor=method_change or 1.0, **sim)
            series[r] = (df["load_mg_per_day_per_1000"], df["censored"])
            tests.append({"key": r, "event_start": ev_start, "event_end": ev_end})
            if method_change:
                changes[r] = [mc_date]
        for e in operation_effects_batch(tests, series, method_changes=changes or None):
            if isinstance(e, NotEstimableError):
                continue
            n_ok += 1
            rej += e.p_value_after < 0.05
            cov += e.ci_low_after <= step <= e.ci_high_after
    return rej / n_ok, cov / n_ok, n_ok


def part1(n_rep: int, lines: list[str], phis=None, grid=True, power=True) -> None:
    lines += ["## 1. Calibration over the grid (seeded)", "",
              ("Each cell: 26 weeks of history, a 7-day operation, 8 weeks after; AR(1) use "
               "variation (lag-1 φ, marginal sd σ on the log scale) plus lognormal measurement "
               "error (CV); Fri–Sun ×1.3; 5 % missing days; LOQ set so that ~10 % of values are "
               "censored (LOQ/2 reported); `operation_effect` defaults (AR(1) + measurement-noise "
               "GLS). Target: false positives within 0.03–0.07, coverage ≥ 0.92 in every cell."),
              "",
              (f"{n_rep} null replicates per cell (binomial SE at 0.05 = "
               f"{binom_se(0.05, n_rep):.3f})."), "",
              "| φ | σ | CV | false positives (α = 0.05) | 95 % CI coverage | in band |",
              "|---|---|---|---|---|---|"]
    worst = []
    for i, (phi, sd, cv) in enumerate(GRID):
        if not grid or (phis is not None and phi not in phis):
            continue
        t0 = time.perf_counter()
        fp, cov, n = run_cell(n_rep, 5000 + i, phi=phi, sd_log=sd, measurement_cv=cv)
        ok = 0.03 <= fp <= 0.07 and cov >= 0.92
        worst.append(ok)
        lines.append(f"| {phi} | {sd} | {cv:.2f} | {fp:.3f} | {cov:.3f} | {'yes' if ok else 'NO'} |")
        print(f"cell {phi} {sd} {cv}: fp={fp:.3f} cov={cov:.3f} n={n} "
              f"({time.perf_counter() - t0:.0f}s)", flush=True)
    lines += ["", f"Cells in band: {sum(worst)} of {len(worst)}.", ""]
    if not power:
        return
    n_pow = max(n_rep // 2, 200)
    lines += [(f"### Power for a −25 % step (φ 0.5, σ 0.2, CV 10 %, 8 weeks after; {n_pow} "
               "replicates per row)"), "",
              "| weeks of history | power | CI coverage of the true −25 % |", "|---|---|---|"]
    for j, weeks in enumerate((4, 8, 13, 26, 52, 104)):
        pw, cov, _ = run_cell(n_pow, 7000 + j, step=-0.25, history_weeks=weeks, phi=0.5,
                              sd_log=0.2, measurement_cv=0.10)
        lines.append(f"| {weeks} | {pw:.3f} | {cov:.3f} |")
        print(f"power hist={weeks}: {pw:.3f} cov={cov:.3f}", flush=True)
    fp, cov, n = run_cell(n_rep, 8000, method_change=2.0, phi=0.5, sd_log=0.2, measurement_cv=0.10)
    lines += ["", (f"### Marked ×2 method change 13 weeks before the operation (φ 0.5, σ 0.2, "
                   f"CV 10 %; {n} replicates)"), "",
              f"False positives {fp:.3f}, CI coverage {cov:.3f} (the change is a level shift in "
              "the model).", ""]
    print(f"method change: fp={fp:.3f} cov={cov:.3f}", flush=True)


def naive_loop(tests, series) -> tuple[float, list]:
    """Per test: slice the window with pandas, build the design, statsmodels GLSAR (AR(1))."""
    out = []
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for t in tests:
            s, _ = series[t["key"]]
            es, ee = t["event_start"], t["event_end"]
            w = s[(s.index >= es - pd.Timedelta(days=730)) & (s.index <= ee + pd.Timedelta(days=56))]
            w = w.dropna()
            d = w.index
            X = np.column_stack([np.ones(len(d))]
                                + [(d.day_of_week == j).astype(float) for j in range(1, 7)]
                                + [((d >= es) & (d <= ee)).astype(float), (d > ee).astype(float)])
            res = sm.GLSAR(np.log(w.to_numpy()), X, rho=1).iterative_fit(maxiter=3)
            out.append(float(res.params[-1]))
    return time.perf_counter() - t0, out


def part2(n_sites: int, lines: list[str], blocks: int = 10) -> None:
    """Batch vs naive loop: one whole-batch call, and paired blocks (batch then naive on the same
    sites, alternating, so that changes in the machine's load hit both alike)."""
    n_analytes, n_events = 20, 10
    rng = np.random.default_rng(7)
    series = {}
    for si in range(n_sites):
        for a in range(n_analytes):
            df = simulate_series(366, START, seed=rng)
            series[(f"S{si:03d}", f"A{a:02d}")] = (df["load_mg_per_day_per_1000"], df["censored"])
    ev = [pd.Timestamp("2024-03-01") + pd.Timedelta(days=21 * i) for i in range(n_events)]
    tests = [{"key": k, "site": k[0], "analyte": k[1], "event_id": f"EV{i}", "event_kind": "operation",
              "event_start": es, "event_end": es + pd.Timedelta(days=6)}
             for k in series for i, es in enumerate(ev)]
    operation_table(tests[:n_events], series)  # loads the compiled kernels (once per process)
    load_before = os.getloadavg()
    t0, c0 = time.perf_counter(), time.process_time()
    table = operation_table(tests, series)
    t_batch, c_batch = time.perf_counter() - t0, time.process_time() - c0
    # paired blocks of sites
    per = max(1, n_sites // blocks)
    pb = pn = cb = cn = 0.0
    for b0 in range(0, n_sites, per):
        sites = {f"S{si:03d}" for si in range(b0, min(b0 + per, n_sites))}
        bt = [t for t in tests if t["site"] in sites]
        t0, c0 = time.perf_counter(), time.process_time()
        operation_table(bt, series)
        pb += time.perf_counter() - t0
        cb += time.process_time() - c0
        t0, c0 = time.perf_counter(), time.process_time()
        naive_loop(bt, series)
        pn += time.perf_counter() - t0
        cn += time.process_time() - c0
    load_after = os.getloadavg()
    rng2 = np.random.default_rng(1)
    sample = rng2.choice(len(tests), size=min(200, len(tests)), replace=False)
    diffs = []
    for j in sample:
        t = tests[j]
        s, c = series[t["key"]]
        try:
            e = operation_effect(s, censored=c, event_start=t["event_start"], event_end=t["event_end"])
        except NotEstimableError as exc:
            assert table.iloc[j]["not_estimable"] == exc.code
            continue
        row = table.iloc[j]
        for col in ("relative_change_after", "ci_low_after", "ci_high_after", "p_value_after",
                    "phi", "noise_share", "df_resid"):
            diffs.append(abs(float(row[col]) - getattr(e, col)))
    n = len(tests)
    lines += ["## 4. Run time: all operation tests", "",
              (f"{n_sites} sites × {n_analytes} analytes × {n_events} events = {n} tests on one "
               f"year of simulated daily data per series (AR(1) + 10 % measurement noise, 5 % "
               f"missing days, 10 % censored); one process (the compiled kernels are "
               f"single-threaded), Python {platform.python_version()}, "
               f"numba {numba.__version__}, on a shared 2-core machine; load average "
               f"{load_before[0]:.1f} before and {load_after[0]:.1f} after. The batch is "
               "`operation_table` (what `wastewater analyse operations --all` runs), incl. "
               "preparing every series and the BH q-values; the naive loop slices each window "
               "with pandas, builds the design and fits statsmodels "
               "`GLSAR(rho=1).iterative_fit(maxiter=3)`."), "",
              "| measurement | batch [s] | naive loop [s] | batch ms/test | naive ms/test | speed-up |",
              "|---|---|---|---|---|---|",
              (f"| paired blocks of {per} sites, wall time | {pb:.1f} | {pn:.1f} | "
               f"{pb / n * 1e3:.3f} | {pn / n * 1e3:.3f} | **{pn / pb:.1f}×** |"),
              (f"| paired blocks of {per} sites, CPU time | {cb:.1f} | {cn:.1f} | "
               f"{cb / n * 1e3:.3f} | {cn / n * 1e3:.3f} | **{cn / cb:.1f}×** |"),
              (f"| the whole batch in one call (wall; CPU {c_batch:.1f} s) vs the paired naive "
               f"total | {t_batch:.1f} | {pn:.1f} | {t_batch / n * 1e3:.3f} | "
               f"{pn / n * 1e3:.3f} | {pn / t_batch:.1f}× |"), "",
              (f"Batch vs `operation_effect` on {len(sample)} sampled tests: largest absolute "
               f"difference of change, CI limits, p-value, φ, noise share and df = "
               f"{max(diffs):.1e}."), ""]
    print(f"timing: paired wall batch {pb:.1f}s naive {pn:.1f}s ratio {pn / pb:.1f}; cpu "
          f"{cb:.1f}/{cn:.1f} = {cn / cb:.1f}; one call {t_batch:.1f}s; maxdiff {max(diffs):.1e}",
          flush=True)


def part3(n_rep: int, lines: list[str]) -> None:
    """Risk weekends in one model (riskweekend_model): null rate and power for +40 % on Valborg
    with 3 years of daily data, and the power against years of history."""
    from wastewater.riskweekends import event_days, risk_weekends
    from wastewater.stats.riskweekend_effect import riskweekend_model

    lines += ["## 5. Risk weekends in one model (`riskweekend_model`, Valborg)", "",
              ("Daily series (defaults of `simulate_series`: φ 0.5, σ 0.2, CV 10 %, Fri–Sun ×1.3, "
               f"5 % missing, 10 % censored) from {START.date()}; every Valborg day of the calendar "
               "×(1 + uplift); one GLS over the whole series with the operation test's error "
               "model, weekday, 2 annual harmonics, an indicator per other calendar event and one "
               f"for Valborg. {n_rep} replicates per row."), "",
              "| years of daily data | Valborg days | uplift | rejections at α = 0.05 | 95 % CI coverage |",
              "|---|---|---|---|---|"]
    for years in (1, 2, 3):
        cal = risk_weekends(list(range(START.year, START.year + years)))
        days = set(event_days(cal).query("name == 'Valborg'")["date"])
        for uplift in (0.0, 0.4):
            rng = np.random.default_rng(9000 + 10 * years + int(uplift * 10))
            rej = cov = n_ok = 0
            nd = len(days)
            for _ in range(n_rep):
                df = simulate_series(365 * years, START, seed=rng)
                s = df["load_mg_per_day_per_1000"].copy()
                s[s.index.isin(list(days))] *= 1 + uplift
                try:
                    r = riskweekend_model(s, cal, "Valborg", censored=df["censored"])
                except ValueError:  # every Valborg day missing (possible with one year)
                    continue
                n_ok += 1
                rej += r.p_value < 0.05
                cov += r.ci_low <= uplift <= r.ci_high
            rej, cov = rej / n_ok, cov / n_ok
            lines.append(f"| {years} | {nd} | {uplift:+.0%} | {rej:.3f} | {cov:.3f} |")
            print(f"risk weekend years={years} uplift={uplift}: {rej:.3f} cov={cov:.3f} n={n_ok}",
                  flush=True)
    lines.append("")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--replicates", type=int, default=1000)
    ap.add_argument("--sites", type=int, default=300)
    ap.add_argument("--skip-grid", action="store_true")
    ap.add_argument("--skip-timing", action="store_true")
    ap.add_argument("--phi", type=float, action="append",
                    help="Only grid cells with this phi (repeat); writes a fragment report.")
    ap.add_argument("--skip-power", action="store_true")
    ap.add_argument("--risk-weekends", action="store_true", help="Only the risk-weekend model (part 5).")
    ap.add_argument("--fragment", default=None, help="Write to reports/bench_stats_<name>.md.")
    args = ap.parse_args()
    t0 = time.perf_counter()
    lines = ["# bench_stats: operating characteristics and run time of the operation test", "",
             (f"Generated by `benchmarks/bench_stats.py --replicates {args.replicates} "
              f"--sites {args.sites}` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}."),
             ""]
    if args.risk_weekends:
        part3(args.replicates, lines)
    elif not args.skip_grid or not args.skip_power:
        part1(args.replicates, lines, phis=args.phi, grid=not args.skip_grid,
              power=not args.skip_power)
    if not args.skip_timing and not args.risk_weekends:
        part2(args.sites, lines)
    lines.append(f"Total benchmark wall time: {time.perf_counter() - t0:.0f} s.")
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    out = REPORT if args.fragment is None else REPORT.with_name(f"bench_stats_{args.fragment}.md")
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
