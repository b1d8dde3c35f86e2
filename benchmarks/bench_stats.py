"""Operating characteristics and run time of the change tests (writes benchmarks/reports/bench_stats.md).

Part 1 (simulation, seeded): false-positive rate, 95 % CI coverage and power of
``operation_effect`` (AR(1)-GLS default, HAC, iid OLS, naive Welch) for several AR(1) phi, noise
levels and with/without the trend term; Mann–Kendall corrections; CUSUM changepoint false alarms.

Part 2 (timing): all change tests for 300 sites × 20 analytes × 10 events versus a plain
statsmodels OLS loop on the same design. By default a random sample of the (site, analyte,
event) cells is timed and the total extrapolated (stated in the report); ``--full`` times all.

Usage: ``.venv/bin/python benchmarks/bench_stats.py [--replicates 1000] [--timing-sample 1500]
[--full]``.
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd
import statsmodels.api as sm

from wastewater.riskweekends import risk_weekends
from wastewater.stats import (
    add_q_values,
    detect_changepoints,
    flag_dumping,
    mann_kendall,
    operation_effect,
    riskweekend_effect,
    same_weekday_alerts,
    simulate_series,
    trend_test,
)
from wastewater.stats._series import prepare_daily
from wastewater.stats.effects import _design

REPORT = Path(__file__).parent / "reports" / "bench_stats.md"
START = pd.Timestamp("2024-01-01")
EV_START = START + pd.Timedelta(days=56)
EV_END = EV_START + pd.Timedelta(days=6)


def binom_se(p: float, n: int) -> float:
    return float(np.sqrt(max(p * (1 - p), 1e-12) / n))


def sim_effect(n_rep, seed, *, phi=0.5, sd_log=0.2, step=0.0, methods=("ar1",), trend=True,
               loq=0.7):
    rng = np.random.default_rng(seed)
    rej = {m: 0 for m in methods}
    cov = {m: 0 for m in methods}
    naive = 0
    for _ in range(n_rep):
        df = simulate_series(119, START, seed=rng, phi=phi, sd_log=sd_log, step_date=EV_START,
                             step_relative_change=step, loq_fraction_of_baseline=loq)
        for m in methods:
            e = operation_effect(df["load_mg_per_day_per_1000"], censored=df["censored"],
                                 event_start=EV_START, event_end=EV_END, method=m, trend=trend)
            rej[m] += e.p_value_after < 0.05
            cov[m] += e.ci_low_after <= step <= e.ci_high_after
            if m == methods[0]:
                naive += e.naive_p_value_after < 0.05
    return ({m: rej[m] / n_rep for m in methods}, {m: cov[m] / n_rep for m in methods},
            naive / n_rep)


def part1(n_rep: int, lines: list[str]) -> None:
    lines += ["## 1. Simulation (seeded)", "",
              ("Series: 8 weeks before, 7-day operation, 8 weeks after (119 days); AR(1) noise on "
               "log load with marginal sd `sd_log`; Fri–Sun ×1.3; trend +5 %/year; LOQ at 0.7 × "
               "baseline (LOQ/2 substituted, ~2–5 % censored); 10 % missing days. α = 0.05."), "",
              (f"### 1a. False-positive rate under no effect ({n_rep} replicates per row; "
               f"binomial SE at 0.05 = {binom_se(0.05, n_rep):.3f})"), "",
              "| phi | AR(1)-GLS (default) | HAC (Newey–West) | iid OLS | naive Welch t | AR(1) CI coverage |",
              "|---|---|---|---|---|---|"]
    for i, phi in enumerate((0.0, 0.3, 0.5, 0.7)):
        t0 = time.perf_counter()
        rej, cov, naive = sim_effect(n_rep, 100 + i, phi=phi, methods=("ar1", "hac", "ols"))
        lines.append(f"| {phi} | {rej['ar1']:.3f} | {rej['hac']:.3f} | {rej['ols']:.3f} | "
                     f"{naive:.3f} | {cov['ar1']:.3f} |")
        print(f"phi={phi}: {rej} cov={cov['ar1']:.3f} naive={naive:.3f} "
              f"({time.perf_counter() - t0:.0f}s)", flush=True)
    n_pow = max(n_rep // 2, 100)
    lines += ["", (f"### 1b. Power and coverage for a 25 % drop (phi 0.5; {n_pow} replicates "
                   "per row; LOQ 0.5 × baseline)"), "",
              "| sd_log | trend term | power (AR(1)) | CI coverage | FPR same setting |",
              "|---|---|---|---|---|"]
    for j, (sd, trend) in enumerate(((0.12, True), (0.15, True), (0.2, True), (0.2, False),
                                     (0.3, False))):
        rej, cov, _ = sim_effect(n_pow, 200 + j, sd_log=sd, step=-0.25, trend=trend, loq=0.5)
        rej0, _, _ = sim_effect(n_pow, 300 + j, sd_log=sd, step=0.0, trend=trend, loq=0.5)
        lines.append(f"| {sd} | {'yes' if trend else 'no'} | {rej['ar1']:.3f} | {cov['ar1']:.3f} | "
                     f"{rej0['ar1']:.3f} |")
        print(f"power sd={sd} trend={trend}: {rej['ar1']:.3f} cov={cov['ar1']:.3f} "
              f"fpr={rej0['ar1']:.3f}", flush=True)

    lines += ["", ("### 1c. Mann–Kendall on AR(1) log loads without trend (n = 120 days, "
                   f"{n_rep} replicates)"), "", "| phi | none | Hamed–Rao | Yue–Wang (default) |",
              "|---|---|---|---|"]
    for phi in (0.3, 0.5, 0.7):
        rng = np.random.default_rng(400)
        r = {"none": 0, "hamed_rao": 0, "yue_wang": 0}
        for _ in range(n_rep):
            df = simulate_series(120, START, seed=rng, phi=phi, weekend_factor=1.0,
                                 trend_per_year=0.0, loq_fraction_of_baseline=None,
                                 missing_fraction=0.0)
            y = np.log(df["load_mg_per_day_per_1000"].to_numpy())
            for k in r:
                r[k] += mann_kendall(y, correction=k)["p_value"] < 0.05
        lines.append(f"| {phi} | {r['none'] / n_rep:.3f} | {r['hamed_rao'] / n_rep:.3f} | "
                     f"{r['yue_wang'] / n_rep:.3f} |")
    print("MK done", flush=True)

    n_cp = max(n_rep // 4, 100)
    lines += ["", f"### 1d. CUSUM changepoints, 365-day series ({n_cp} replicates, alpha 0.01 per test)",
              "", "| phi | series with ≥1 false changepoint | detection of a −30 % step (±7 days) |",
              "|---|---|---|"]
    for phi in (0.3, 0.5, 0.7):
        rng = np.random.default_rng(500)
        fa = hit = 0
        for _ in range(n_cp):
            df = simulate_series(365, START, seed=rng, phi=phi, trend_per_year=0.0)
            fa += len(detect_changepoints(df["load_mg_per_day_per_1000"]).changepoints) > 0
            df = simulate_series(365, START, seed=rng, phi=phi, trend_per_year=0.0,
                                 step_date="2024-07-01", step_relative_change=-0.3)
            cp = detect_changepoints(df["load_mg_per_day_per_1000"]).changepoints
            hit += bool(((cp["date"] - pd.Timestamp("2024-07-01")).abs()
                         <= pd.Timedelta(days=7)).any())
        lines.append(f"| {phi} | {fa / n_cp:.3f} | {hit / n_cp:.3f} |")
    print("CP done", flush=True)


def part2(sample: int, full: bool, lines: list[str]) -> None:
    n_sites, n_analytes, n_events = 300, 20, 10
    n_cells = n_sites * n_analytes * n_events
    n_series = n_sites * n_analytes
    rng = np.random.default_rng(7)
    # one year of daily data per series; 10 operations spread over the year
    cal = risk_weekends([2024])
    ev_starts = [pd.Timestamp("2024-03-01") + pd.Timedelta(days=21 * i) for i in range(n_events)]
    n_eff = n_cells if full else min(sample, n_cells)
    n_ser_eff = n_series if full else max(min(sample // n_events, n_series), 20)
    series = [simulate_series(366, START, seed=rng) for _ in range(max(n_ser_eff, 1))]

    t_effect = t_dump = t_ols = 0.0
    pvals = []
    for i in range(n_eff):
        df = series[i % len(series)]
        es = ev_starts[i % n_events]
        ee = es + pd.Timedelta(days=6)
        s, c = df["load_mg_per_day_per_1000"], df["censored"]
        t0 = time.perf_counter()
        e = operation_effect(s, censored=c, event_start=es, event_end=ee)
        t1 = time.perf_counter()
        flag_dumping(s, censored=c, event_start=es, event_end=ee)
        t2 = time.perf_counter()
        # baseline: plain statsmodels OLS on the same window and design (no prep, no HAC/AR)
        win = s[(s.index >= es - pd.Timedelta(days=56)) & (s.index <= ee + pd.Timedelta(days=56))]
        obs = prepare_daily(win)
        X, _ = _design(obs.index, obs["t"].to_numpy(float),
                       obs[[f"weekday_share_{j}" for j in range(7)]].to_numpy(), es, ee)
        t3 = time.perf_counter()
        sm.OLS(obs["log_load"].to_numpy(), X).fit()
        t4 = time.perf_counter()
        t_effect += t1 - t0
        t_dump += t2 - t1
        t_ols += t4 - t3
        pvals.append(e.p_value_after)
    t_trend = t_cp = t_alert = t_rw = 0.0
    for df in series[:n_ser_eff]:
        s, c = df["load_mg_per_day_per_1000"], df["censored"]
        t0 = time.perf_counter()
        trend_test(s, censored=c)
        t1 = time.perf_counter()
        detect_changepoints(s, censored=c)
        t2 = time.perf_counter()
        same_weekday_alerts(s, censored=c)
        t3 = time.perf_counter()
        riskweekend_effect(s, cal, censored=c)
        t4 = time.perf_counter()
        t_trend += t1 - t0
        t_cp += t2 - t1
        t_alert += t3 - t2
        t_rw += t4 - t3
    frame = pd.DataFrame({"p_value": np.resize(np.array(pvals), n_cells)})
    t0 = time.perf_counter()
    add_q_values(frame)
    t_bh = time.perf_counter() - t0

    def per(total, n):
        return total / n * 1e3

    rows = [
        ("operation_effect (AR(1)-GLS, censoring refits)", per(t_effect, n_eff), n_cells),
        ("flag_dumping", per(t_dump, n_eff), n_cells),
        ("trend_test (MK + Sen)", per(t_trend, n_ser_eff), n_series),
        ("detect_changepoints", per(t_cp, n_ser_eff), n_series),
        ("same_weekday_alerts (1 year)", per(t_alert, n_ser_eff), n_series),
        ("riskweekend_effect (1 year)", per(t_rw, n_ser_eff), n_series),
    ]
    total_s = sum(ms * n / 1e3 for _, ms, n in rows) + t_bh
    ols_s = per(t_ols, n_eff) * n_cells / 1e3
    scope = "all cells timed" if full else (
        f"{n_eff} (site, analyte, event) cells and {n_ser_eff} series timed, totals extrapolated")
    lines += ["", "## 2. Run time: 300 sites × 20 analytes × 10 events", "",
              (f"Scope: {scope}. Single process on a shared 2-core machine (other jobs running), "
               f"Python {platform.python_version()}."), "",
              "| test | ms per call | calls | total [s] |", "|---|---|---|---|"]
    for name, ms, n in rows:
        lines.append(f"| {name} | {ms:.2f} | {n} | {ms * n / 1e3:.0f} |")
    lines += [f"| BH q-values over {n_cells} p-values | — | 1 | {t_bh:.3f} |",
              f"| **all change tests** | | | **{total_s:.0f}** |",
              (f"| baseline: plain `sm.OLS(y, X).fit()` loop, same design | "
               f"{per(t_ols, n_eff):.2f} | {n_cells} | {ols_s:.0f} |"), ""]
    print(f"timing done: total {total_s:.0f}s vs OLS {ols_s:.0f}s", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--replicates", type=int, default=1000)
    ap.add_argument("--timing-sample", type=int, default=1500)
    ap.add_argument("--full", action="store_true")
    args = ap.parse_args()
    t0 = time.perf_counter()
    lines = ["# bench_stats: operating characteristics and run time of the change tests", "",
             (f"Generated by `benchmarks/bench_stats.py --replicates {args.replicates} "
              f"--timing-sample {args.timing_sample}{' --full' if args.full else ''}` "
              f"on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}."), ""]
    part1(args.replicates, lines)
    part2(args.timing_sample, args.full, lines)
    lines.append(f"Total benchmark wall time: {time.perf_counter() - t0:.0f} s.")
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {REPORT}")


if __name__ == "__main__":
    main()
