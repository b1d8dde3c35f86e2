"""Analyses on a real ``dask.distributed`` cluster give the single-process numbers, bit for bit.

A :class:`distributed.LocalCluster` with two worker *processes* (one thread each) stands in for
a national cluster. Seeded Monte Carlo intervals and a batch of operation-effect tests run on it
and in this process; results must be identical, and sensible on their own (the Monte Carlo
interval agrees with the analytic lognormal one; a simulated −30 % step is recovered).
"""

from __future__ import annotations

import socket

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from wastewater import distributed as wd
from wastewater.stats import operation_effect, simulate_series
from wastewater.uncertainty import Z_975, _rsds, lognormal_sigma

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None, silence_logs=50) as lc:
        yield lc


@pytest.fixture(scope="module")
def client(cluster):
    with wd.cluster(cluster.scheduler_address) as c:
        yield c


def _dataset(n_sites: int = 3, n_analytes: int = 2, n_days: int = 20) -> xr.Dataset:
    rng = np.random.default_rng(11)
    values = rng.lognormal(np.log(500.0), 0.4, (n_sites, n_analytes, n_days))
    values[0, 0, :5] = np.nan  # missing days stay missing
    return xr.Dataset(
        {"load_mg_per_day_per_1000": (("site", "analyte", "date"), values)},
        coords={"site": [f"SE-{i}" for i in range(n_sites)],
                "analyte": ["benzoylecgonine", "amphetamine", "mdma"][:n_analytes],
                "date": pd.date_range("2025-03-01", periods=n_days)},
    )


def test_monte_carlo_on_cluster_equals_single_process(client) -> None:
    ds = _dataset()
    on_cluster = wd.monte_carlo(ds, client=client, n_draws=200, seed=2024)
    local = wd.monte_carlo(ds, client=None, n_draws=200, seed=2024)
    import dask

    with dask.config.set(scheduler="synchronous"):
        serial = wd.monte_carlo(ds, n_draws=200, seed=2024)
    for name in ("lo95", "mc_median", "hi95"):
        var = f"load_mg_per_day_per_1000_{name}"
        np.testing.assert_array_equal(on_cluster[var].values, local[var].values)
        np.testing.assert_array_equal(on_cluster[var].values, serial[var].values)
    # another seed really gives other draws (the comparison above is not vacuous)
    other = wd.monte_carlo(ds, n_draws=200, seed=2025)
    assert not np.array_equal(other["load_mg_per_day_per_1000_hi95"].values,
                              on_cluster["load_mg_per_day_per_1000_hi95"].values)


def test_monte_carlo_interval_matches_the_analytic_lognormal(client) -> None:
    """With σ_tot = √Σσᵢ², the 97.5 % point is value·exp(1.96 σ_tot); MC with 4000 draws is
    within a few per cent of it, and the median within about 1 %."""
    ds = _dataset(n_sites=2, n_analytes=1, n_days=10)
    out = wd.monte_carlo(ds, client=client, n_draws=4000, seed=7)
    sigma = np.sqrt(sum(lognormal_sigma(r) ** 2
                        for r in _rsds("load_mg_per_day_per_1000", None).values()))
    value = ds["load_mg_per_day_per_1000"].values
    ok = np.isfinite(value)
    hi = out["load_mg_per_day_per_1000_hi95"].values[ok] / value[ok]
    lo = out["load_mg_per_day_per_1000_lo95"].values[ok] / value[ok]
    med = out["load_mg_per_day_per_1000_mc_median"].values[ok] / value[ok]
    assert np.median(hi) == pytest.approx(np.exp(Z_975 * sigma), rel=0.04)
    assert np.median(lo) == pytest.approx(np.exp(-Z_975 * sigma), rel=0.04)
    assert np.median(med) == pytest.approx(1.0, abs=0.015)
    assert np.isnan(out["load_mg_per_day_per_1000_hi95"].values[0, 0, :5]).all()


def _series_batch() -> dict[tuple[str, str], pd.Series]:
    """Four seeded 130-day series; the first two drop by 30 % after 2024-03-15."""
    out = {}
    for i in range(4):
        frame = simulate_series(130, "2024-01-01", seed=100 + i, missing_fraction=0.05,
                                step_date="2024-03-15" if i < 2 else None,
                                step_relative_change=-0.30 if i < 2 else 0.0,
                                loq_fraction_of_baseline=None, censored_fraction=None,
                                measurement_cv=0.0)
        out[(f"SE-{i}", "benzoylecgonine")] = frame["load_mg_per_day_per_1000"]
    return out


def test_batch_change_tests_on_cluster_equal_the_loop(client) -> None:
    series = _series_batch()
    kwargs = {"event_start": "2024-03-01", "event_end": "2024-03-14", "before_days": 56,
              "after_days": 49}
    on_cluster = wd.batch_change_tests(series, operation_effect, client=client, **kwargs)
    loop = {k: operation_effect(s, **kwargs) for k, s in series.items()}
    assert list(on_cluster) == list(series)  # input order kept
    for key in series:
        assert on_cluster[key].to_dict() == loop[key].to_dict()
    # the simulated −30 % steps are found, the flat series are not
    for i, key in enumerate(series):
        res = on_cluster[key]
        if i < 2:
            assert res.ci_low_after <= -0.30 <= res.ci_high_after
            assert res.relative_change_after < -0.15
        else:
            assert res.ci_low_after <= 0.0 <= res.ci_high_after


def test_map_ordered_reraises_the_worker_error(client) -> None:
    with pytest.raises(ZeroDivisionError):
        wd.map_ordered(_inverse, [2.0, 0.0, 1.0], client=client)
    assert wd.map_ordered(_inverse, [2.0, 4.0], client=client) == [0.5, 0.25]
    assert wd.map_ordered(_inverse, [2.0, 4.0]) == [0.5, 0.25]


def _inverse(x: float) -> float:
    if x == 0.0:
        raise ZeroDivisionError("x = 0")
    return 1.0 / x


def test_settings_select_the_cluster(monkeypatch, cluster) -> None:
    monkeypatch.delenv("WASTEWATER_DASK_SCHEDULER", raising=False)
    assert wd.scheduler_address() is None
    assert wd.connect() is None  # no cluster configured: run in-process
    monkeypatch.setenv("WASTEWATER_DASK_SCHEDULER", "  ")
    assert wd.scheduler_address() is None
    monkeypatch.setenv("WASTEWATER_DASK_SCHEDULER", cluster.scheduler_address)
    assert wd.DaskSettings().dask_scheduler == cluster.scheduler_address
    with wd.cluster() as c:
        assert c is not None
        assert len(c.scheduler_info()["workers"]) == 2


def test_unreachable_scheduler_is_a_clear_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again when the block ends: nobody listens
    with pytest.raises(wd.ClusterUnavailable, match=rf"127.0.0.1:{port}.*WASTEWATER_DASK"):
        wd.connect(f"tcp://127.0.0.1:{port}", timeout_s=1.0)
