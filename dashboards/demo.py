"""Load the shipped demo data (samples/ and the EUDA release) into a database, through the
same ingest service the API's upload endpoint uses. Used by the dashboard tests."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "samples"
EUDA_DIR = SAMPLES / "euda"
DEMO_FILES = ("sites.csv", "flows.csv", "results.csv", "results_wide_sv.csv", "events.csv")


def load_demo(engine: sa.Engine, samples_dir: Path = SAMPLES, euda_dir: Path | None = EUDA_DIR
              ) -> dict[str, int]:
    """Ingest ``samples/*.csv`` (sites first) and, when present, the EUDA reference files.

    Returns rows inserted per file. Raises ``RuntimeError`` naming the file when an upload is
    rejected, so a broken demo set is visible at once.
    """
    from wastewater.storage.service import ingest_bytes

    counts: dict[str, int] = {}
    for name in DEMO_FILES:
        path = Path(samples_dir) / name
        if not path.exists():
            continue
        out = ingest_bytes(engine, path.read_bytes(), filename=name, uploader="demo")
        if not (out.stored or out.duplicate):
            raise RuntimeError(f"demo file {name} was rejected: {out.report.to_dict()}")
        counts[name] = int(out.rows_inserted)
    if euda_dir is not None and (Path(euda_dir) / "ww2025-all-data.csv").exists():
        from wastewater.interop.store import import_euda

        res = import_euda(engine, Path(euda_dir) / "ww2025-all-data.csv",
                          Path(euda_dir) / "ww2025-site-info-table.csv", actor="demo")
        counts["euda"] = int(res.get("values", 0))
    return counts
