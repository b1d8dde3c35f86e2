"""Progress over the named phases of an ingest and the final summary (counts and seconds)."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from service.cli import app
from wastewater.ingest.progress import IngestProgress, ingest_summary
from wastewater.storage.service import ingest_bytes

SITES = b"site,name,municipality,population\nSE-P,Verk P,Pby,12000\n"
HEADER = "sample_id,site,sample_date,analyte,value,unit\n"


def _results(n_days: int) -> bytes:
    lines = [f"P-{d},SE-P,2025-01-{d + 1:02d},{a},{100 + d},ng/L\n"
             for d in range(n_days) for a in ("benzoylecgonine", "amphetamine")]
    return (HEADER + "".join(lines)).encode()


def test_phases_record_rows_and_seconds_of_a_real_ingest(engine):
    ingest_bytes(engine, SITES, filename="s.csv", uploader="t")
    seen: list[tuple[str, int, int | None]] = []
    progress = IngestProgress(listener=lambda phase, done, total: seen.append(
        (phase, done, total)))
    out = ingest_bytes(engine, _results(20), filename="r.csv", uploader="t", progress=progress)
    assert out.stored and out.rows_inserted == 40
    assert [(p.name, p.rows, p.total) for p in progress.phases] == [
        ("reading", 40, 40), ("validating", 40, 40), ("storing", 40, 40)]
    assert all(p.seconds >= 0 for p in progress.phases)
    assert progress.total_seconds == pytest.approx(sum(p.seconds for p in progress.phases))
    # the listener saw each phase start (0 rows) and end (all rows), in order
    assert seen[0] == ("reading", 0, None) and seen[-1] == ("storing", 40, 40)
    assert [s[0] for s in seen] == sorted((s[0] for s in seen),
                                          key=["reading", "validating", "storing"].index)


def test_summary_counts_and_seconds_in_english_and_swedish(engine):
    ingest_bytes(engine, SITES, filename="s.csv", uploader="t")
    data = _results(3).replace(b"P-2,SE-P,2025-01-03,amphetamine,102",
                               b"P-2,SE-P,2025-01-03,amphetamine,-1")
    ticks = iter(float(i) for i in range(100))
    progress = IngestProgress(clock=lambda: next(ticks))
    out = ingest_bytes(engine, data, filename="r.csv", uploader="t", on_error="skip",
                       progress=progress)
    assert (out.report.rows_total, out.rows_inserted, len(out.report.errors)) == (6, 5, 1)
    # every phase took one tick of the fake clock: 1 s each, 3 s in all, 6 rows / 3 s
    assert ingest_summary(out, progress) == (
        "6 rows, 5 accepted (5 new, 0 superseded, 0 unchanged), 1 error, 0 warnings; "
        "reading 1.00 s, validating 1.00 s, storing 1.00 s, total 3.00 s (2 rows/s)")
    assert ingest_summary(out, progress, lang="sv") == (
        "6 rader, 5 godkända (5 nya, 0 ersatta, 0 oförändrade), 1 fel, 0 varningar; "
        "läser 1,00 s, kontrollerar 1,00 s, lagrar 1,00 s, totalt 3,00 s (2 rader/s)")


def test_cli_ingest_ends_with_the_summary(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("WASTEWATER_DATABASE_URL", url)
    monkeypatch.setenv("COLUMNS", "200")
    runner = CliRunner()
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    (tmp_path / "sites.csv").write_bytes(SITES)
    (tmp_path / "results.csv").write_bytes(_results(10))
    assert runner.invoke(app, ["ingest", str(tmp_path / "sites.csv")]).exit_code == 0
    res = runner.invoke(app, ["ingest", "--lang", "sv", str(tmp_path / "results.csv")])
    assert res.exit_code == 0, res.output
    line = " ".join(res.output.split())  # whatever the terminal wrapped
    assert re.search(r"20 rader, 20 godkända \(20 nya, 0 ersatta, 0 oförändrade\), 0 fel, "
                     r"0 varningar; läser \d+,\d\d s, kontrollerar \d+,\d\d s, lagrar \d+,\d\d s, "
                     r"totalt \d+,\d\d s", line), line
