"""Run analyses on a ``dask.distributed`` cluster (national-scale Monte Carlo, batch tests).

The analysis layer is written against dask collections (xarray datasets with dask chunks) and
plain Python callables. This module is the one place that knows about a *cluster*:

* :class:`DaskSettings` reads the scheduler address from ``WASTEWATER_DASK_SCHEDULER``
  (e.g. ``tcp://scheduler:8786``, see ``docker-compose.yml``);
* :func:`connect` / :func:`cluster` open a :class:`distributed.Client` to it, or yield ``None``
  when no address is configured, in which case everything runs in the calling process;
* :func:`compute` evaluates dask-backed objects (``xr.Dataset``, ``dask.array``) on that client
  or, without one, on dask's local scheduler;
* :func:`map_ordered` and :func:`batch_change_tests` fan a function out over many independent
  inputs (site × analyte series) and return the results in input order;
* :func:`monte_carlo` runs :func:`wastewater.uncertainty.monte_carlo` with its dask graph
  executed on the cluster.

Results do not depend on where they are computed: random draws are seeded per chunk inside the
analysis functions (never from worker state), so a seeded run gives bit-identical numbers in
one process, on a thread pool or on a cluster; ``tests/test_distributed.py`` checks this on a
two-process :class:`distributed.LocalCluster`.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from wastewater.exceptions import WastewaterError

if TYPE_CHECKING:
    import xarray as xr
    from distributed import Client

T = TypeVar("T")
R = TypeVar("R")

CONNECT_TIMEOUT_S = 10.0
"""Default time allowed to reach the scheduler before :class:`ClusterUnavailable` [s]."""


class ClusterUnavailable(WastewaterError, ConnectionError):
    """The configured dask scheduler cannot be reached; nothing was computed."""


class DaskSettings(BaseSettings):
    """Cluster settings, read from ``WASTEWATER_*`` environment variables.

    ``WASTEWATER_DASK_SCHEDULER`` unset or empty means "no cluster": analyses run in-process.
    """

    model_config = SettingsConfigDict(env_prefix="WASTEWATER_", extra="ignore")

    dask_scheduler: str | None = Field(
        None,
        description=(
            "Address of a dask.distributed scheduler, e.g. tcp://scheduler:8786 "
            "(WASTEWATER_DASK_SCHEDULER). Unset: analyses run in the calling process."
        ),
    )


def scheduler_address(settings: Any | None = None) -> str | None:
    """
    Return the configured scheduler address, or ``None`` when none is configured.

    Parameters
    ----------
    settings : object, optional
        Anything with a ``dask_scheduler`` attribute (e.g. :class:`DaskSettings` or the API
        settings). Default: a fresh :class:`DaskSettings` read from the environment.

    Returns
    -------
    str or None
        Stripped address; ``None`` for unset or blank values.
    """
    if settings is None:
        settings = DaskSettings()
    address = getattr(settings, "dask_scheduler", None)
    if address is None:
        return None
    address = str(address).strip()
    return address or None


def connect(
    address: str | None = None, *, settings: Any | None = None,
    timeout_s: float = CONNECT_TIMEOUT_S,
) -> Client | None:
    """
    Open a :class:`distributed.Client` to the configured scheduler.

    Parameters
    ----------
    address : str, optional
        Scheduler address (``tcp://host:8786``); default :func:`scheduler_address`.
    settings : object, optional
        Passed to :func:`scheduler_address` when ``address`` is not given.
    timeout_s : float
        How long to try reaching the scheduler [s].

    Returns
    -------
    distributed.Client or None
        ``None`` when no address is configured (run in-process). The client is *not* made the
        global default (``set_as_default=False``): callers pass it explicitly.

    Raises
    ------
    ClusterUnavailable
        The scheduler does not answer within ``timeout_s``.
    """
    address = address or scheduler_address(settings)
    if address is None:
        return None
    from distributed import Client

    try:
        client: Client = Client(address, timeout=timeout_s,  # type: ignore[no-untyped-call]
                                set_as_default=False)
        return client
    except (OSError, TimeoutError) as exc:
        raise ClusterUnavailable(
            f"cannot reach the dask scheduler at {address!r} within {timeout_s:g} s ({exc}); "
            "check that it runs (docker compose --profile dask up) or unset "
            "WASTEWATER_DASK_SCHEDULER to compute in-process"
        ) from exc


@contextlib.contextmanager
def cluster(
    address: str | None = None, *, settings: Any | None = None,
    timeout_s: float = CONNECT_TIMEOUT_S,
) -> Iterator[Client | None]:
    """Context manager around :func:`connect`; closes the client afterwards (yields ``None``
    when no scheduler is configured).
    """
    client = connect(address, settings=settings, timeout_s=timeout_s)
    try:
        yield client
    finally:
        if client is not None:
            client.close()  # type: ignore[no-untyped-call]


def compute(obj: T, *, client: Any | None = None) -> T:
    """
    Evaluate a dask-backed object (``xr.Dataset``/``DataArray``, dask array, delayed).

    Parameters
    ----------
    obj
        Any dask collection; xarray objects come back with numpy-backed variables.
    client : distributed.Client, optional
        Compute on this cluster; ``None`` uses dask's default local scheduler.

    Returns
    -------
    Same type as ``obj``, fully computed.
    """
    import dask

    kwargs = {} if client is None else {"scheduler": client}
    computed: tuple[T] = dask.compute(obj, **kwargs)  # type: ignore[no-untyped-call]
    return computed[0]


def map_ordered(
    func: Callable[..., R], items: Iterable[Any], *, client: Any | None = None,
    **kwargs: Any,
) -> list[R]:
    """
    Apply ``func(item, **kwargs)`` to every item, on the cluster when a client is given.

    Parameters
    ----------
    func : callable
        Must be importable by the workers (a module-level function; lambdas pickle with
        cloudpickle but tie workers to the caller's code version).
    items : iterable
        Independent inputs (e.g. one daily series per site × analyte).
    client : distributed.Client, optional
        ``None``: a plain loop in this process.
    **kwargs
        Passed unchanged to every call.

    Returns
    -------
    list
        ``[func(item, **kwargs) for item in items]``, in input order. The first exception
        raised by any call is re-raised here.
    """
    items = list(items)
    if client is None:
        return [func(item, **kwargs) for item in items]
    # partial(): user keywords never collide with Client.map's own (key=, workers=, ...)
    futures = client.map(functools.partial(func, **kwargs), items, pure=False)
    try:
        results: list[R] = client.gather(futures)
        return results
    finally:
        for fut in futures:
            fut.release()


def _call_on_pair(pair: tuple[Any, Any], test: Callable[..., Any], **kwargs: Any) -> Any:
    series, censored = pair
    if censored is None:
        return test(series, **kwargs)
    return test(series, censored=censored, **kwargs)


def batch_change_tests(
    series: Mapping[Hashable, Any],
    test: Callable[..., R],
    *,
    censored: Mapping[Hashable, Any] | None = None,
    client: Any | None = None,
    **kwargs: Any,
) -> dict[Hashable, R]:
    """
    Run one change test on many daily series (e.g. every site × analyte of the country).

    Parameters
    ----------
    series : mapping key -> pd.Series
        Daily ``load_mg_per_day_per_1000`` series (DatetimeIndex, NaN = missing day), the
        input contract of ``wastewater.stats`` (docs/architecture.md, "Statistics").
    test : callable
        A ``wastewater.stats`` function ``test(series, [censored=...], **kwargs)``.
    censored : mapping key -> pd.Series of bool, optional
        Censoring flags per key; passed as ``censored=`` when given for that key.
    client : distributed.Client, optional
        Cluster to run on; ``None`` runs in this process.
    **kwargs
        Passed to every call of ``test`` (window, event dates, seed ...).

    Returns
    -------
    dict
        Key -> test result, keys in the order of ``series``.
    """
    keys = list(series)
    pairs = [(series[k], None if censored is None else censored.get(k)) for k in keys]
    results = map_ordered(_call_on_pair, pairs, client=client, test=test, **kwargs)
    return dict(zip(keys, results, strict=True))


DEFAULT_MC_CHUNKS: dict[str, int] = {"site": 1}
"""Monte Carlo blocks: one site per block (sites are the natural unit of national work)."""


def monte_carlo(
    ds: xr.Dataset,
    variable: str = "load_mg_per_day_per_1000",
    *,
    client: Any | None = None,
    chunks: Mapping[str, int] | None = None,
    **kwargs: Any,
) -> xr.Dataset:
    """
    Monte Carlo 95 % intervals of ``ds[variable]``, computed on a cluster when given.

    Thin wrapper of :func:`wastewater.uncertainty.monte_carlo_intervals` (lognormal
    multiplicative components, per-cell percentiles; the method and its literature source are
    documented there): the dask graph it builds is evaluated by :func:`compute` on
    ``client``.

    Parameters
    ----------
    ds : xr.Dataset
        Output of :func:`wastewater.timeseries.build_dataset` (dims ``site, analyte, date``).
    variable : str
        Variable to propagate, e.g. ``load_mg_per_day_per_1000`` [mg/day/1000 inh.].
    client : distributed.Client, optional
        ``None``: dask's local scheduler in this process.
    chunks : mapping, optional
        Dask chunks; default :data:`DEFAULT_MC_CHUNKS`. Each block draws from its own child of
        ``SeedSequence(seed)``, so the numbers depend on the chunking and the seed — never on
        the scheduler, the number of workers or the order in which blocks run.
    **kwargs
        ``n_draws``, ``seed``, ``rsd``, ``per_component`` for ``monte_carlo_intervals``.

    Returns
    -------
    xr.Dataset
        ``ds`` plus ``{variable}_lo95``, ``{variable}_mc_median``, ``{variable}_hi95``
        (numpy-backed, same units as ``variable``).
    """
    from wastewater.uncertainty import monte_carlo_intervals

    lazy = monte_carlo_intervals(ds, variable, chunks=dict(chunks or DEFAULT_MC_CHUNKS), **kwargs)
    return compute(lazy, client=client)
