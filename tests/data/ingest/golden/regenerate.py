"""Regenerate the golden reports: ``.venv/bin/python tests/data/ingest/golden/regenerate.py``.

Review the diff of every ``*.report.json`` before committing: these files are the
specification of the messages a lab technician sees.
"""

import datetime as dt
import json
from pathlib import Path

from wastewater.ingest import parse_upload

HERE = Path(__file__).parent
KNOWN_SITES = {"KTH"}
TODAY = dt.date(2025, 6, 1)

if __name__ == "__main__":
    for path in sorted(HERE.glob("*.csv")):
        report = parse_upload(path.read_bytes(), known_sites=KNOWN_SITES, today=TODAY).report
        target = path.with_suffix(".report.json")
        target.write_text(
            json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n", "utf-8"
        )
        print(f"{target.name}: {len(report.issues)} issues")
