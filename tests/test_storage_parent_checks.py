"""Results refer to existing sites and uploads on both databases: SQLite by its foreign keys,
PostgreSQL by the statement-level checks of migration 0007 (same constraint names, SQLSTATE
23503), for every writer, bulk or not, and for deletes and key changes of the parents."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
import sqlalchemy as sa

from wastewater.storage import tables as t
from wastewater.storage.bulk import BATCH_ROWS, insert_frame
from wastewater.storage.database import write_transaction
from wastewater.storage.service import ingest_bytes

SITES = b"site,name,municipality,population\nSE-A,Verk A,Kommun,10000\nSE-B,Verk B,Kommun,2000\n"
RESULTS = (b"sample_id,site,sample_date,analyte,value,unit\n"
           b"A1,SE-A,2025-03-03,cocaine,12.5,ng/L\nB1,SE-B,2025-03-03,cocaine,3.5,ng/L\n")
NOW = dt.datetime(2026, 1, 2, tzinfo=dt.UTC)


def _row(upload_id: int, site: str, sample_id: str = "X1") -> dict:
    return {"sample_id": sample_id, "site": site, "sample_date": dt.date(2025, 3, 4),
            "analyte": "cocaine", "replicate": 1, "sample_role": "sample", "censor": "none",
            "upload_id": upload_id, "is_current": True, "stored_at": NOW}


def _constraint(exc: sa.exc.IntegrityError) -> str | None:
    diag = getattr(exc.orig, "diag", None)  # psycopg; SQLite names no constraint
    return None if diag is None else diag.constraint_name


@pytest.fixture
def stored(engine: sa.Engine) -> int:
    ingest_bytes(engine, SITES, filename="s.csv", uploader="t")
    out = ingest_bytes(engine, RESULTS, filename="r.csv", uploader="t")
    assert out.stored and out.rows_inserted == 2
    return int(out.upload_id)


def _count(engine: sa.Engine, table: sa.Table) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def test_a_result_of_an_unknown_site_or_upload_is_refused(engine, stored):
    for row, name in ((_row(stored, "SE-NOPE"), "fk_results_site_sites"),
                      (_row(stored + 99, "SE-A"), "fk_results_upload_id_uploads")):
        with pytest.raises(sa.exc.IntegrityError) as info, write_transaction(engine) as conn:
            conn.execute(t.results.insert(), [_row(stored, "SE-A", "OK1"), row])
        if engine.dialect.name == "postgresql":
            assert _constraint(info.value) == name
    assert _count(engine, t.results) == 2  # nothing of the refused statements


def test_one_unknown_site_in_a_bulk_load_refuses_the_whole_load(engine, stored):
    n = BATCH_ROWS + 5
    frame = pd.DataFrame({
        "sample_id": [f"S{i}" for i in range(n)], "analyte": "cocaine", "replicate": 1,
        "sample_role": "sample", "censor": "none",
        "site": ["SE-A"] * (n - 1) + ["SE-GONE"],  # the last row, in the second batch
        "sample_date": pd.Timestamp("2025-01-01") + pd.to_timedelta(range(n), "D") * 0,
    })
    with pytest.raises(sa.exc.IntegrityError) as info, write_transaction(engine) as conn:
        insert_frame(conn, t.results, frame, list(frame.columns),
                     constants={"upload_id": stored, "stored_at": NOW, "is_current": True})
    if engine.dialect.name == "postgresql":
        assert _constraint(info.value) == "fk_results_site_sites"
        assert "SE-GONE" in str(info.value)
    assert _count(engine, t.results) == 2


def test_moving_a_result_to_an_unknown_site_is_refused(engine, stored):
    r = t.results.c
    with pytest.raises(sa.exc.IntegrityError), write_transaction(engine) as conn:
        conn.execute(t.results.update().where(r.sample_id == "A1").values(site="SE-NOPE"))
    with write_transaction(engine) as conn:  # to a known site it is allowed
        conn.execute(t.results.update().where(r.sample_id == "A1").values(site="SE-B"))
    with engine.connect() as conn:
        assert conn.execute(sa.select(r.site).where(r.sample_id == "A1")).scalar_one() == "SE-B"


def test_a_site_or_upload_with_results_cannot_be_deleted_or_renamed(engine, stored):
    s, u = t.sites.c, t.uploads.c
    for statement in (t.site_populations.delete().where(t.site_populations.c.site == "SE-B"),):
        with write_transaction(engine) as conn:  # the other references of SE-B go first
            conn.execute(statement)
    refused = [t.sites.delete().where(s.site == "SE-B"),
               t.sites.update().where(s.site == "SE-B").values(site="SE-C"),
               t.uploads.delete().where(u.upload_id == stored),
               t.uploads.update().where(u.upload_id == stored).values(upload_id=stored + 50)]
    for statement in refused:
        with pytest.raises(sa.exc.IntegrityError), write_transaction(engine) as conn:
            conn.execute(statement)
    assert _count(engine, t.sites) == 2
    with write_transaction(engine) as conn:  # once its results are gone the site may go
        conn.execute(t.results.delete().where(t.results.c.site == "SE-B"))
        conn.execute(t.sites.delete().where(s.site == "SE-B"))
    assert _count(engine, t.sites) == 1


def test_postgresql_refuses_truncating_a_parent_of_results(engine, stored):
    """TRUNCATE fires no row trigger: migration 0007's statement trigger refuses it while results
    exist (as a foreign key would), also with CASCADE (which follows only real foreign keys, so
    it would otherwise leave the results orphaned), and allows it once they are gone. SQLite has
    no TRUNCATE."""
    if engine.dialect.name != "postgresql":
        pytest.skip("TRUNCATE is PostgreSQL's")
    for parent, name in (("sites", "fk_results_site_sites"), ("uploads", "fk_results_upload_id_uploads")):
        with pytest.raises(sa.exc.IntegrityError) as info, write_transaction(engine) as conn:
            conn.exec_driver_sql(f"TRUNCATE {parent} CASCADE")
        assert _constraint(info.value) == name
        assert "refers to it" in str(info.value)
    assert _count(engine, t.sites) == 2 and _count(engine, t.results) == 2
    with write_transaction(engine) as conn:
        conn.execute(t.results.delete())
        conn.exec_driver_sql("TRUNCATE sites CASCADE")
    assert _count(engine, t.sites) == 0


def test_postgresql_checks_results_once_per_statement(engine):
    """No per-row foreign-key trigger on results; the statement-level check is there."""
    if engine.dialect.name != "postgresql":
        pytest.skip("the per-statement check is PostgreSQL's (SQLite keeps its foreign keys)")
    with engine.connect() as conn:
        fks = conn.exec_driver_sql(
            "SELECT conname FROM pg_constraint WHERE conrelid = 'results'::regclass "
            "AND contype = 'f'").scalars().all()
        triggers = dict(conn.exec_driver_sql(
            "SELECT tgname, tgtype FROM pg_trigger WHERE tgrelid = 'results'::regclass "
            "AND NOT tgisinternal").all())
    assert fks == []
    assert set(triggers) == {"results_check_parents_insert", "results_check_parents_update"}
    assert triggers["results_check_parents_insert"] & 1 == 0  # bit 0 clear: FOR EACH STATEMENT
    assert t.POSTGRESQL_TRIGGER_CHECKED_FKS == {"fk_results_site_sites",
                                                "fk_results_upload_id_uploads"}
