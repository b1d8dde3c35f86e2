"""A small client of the wastewater API, in plain Python (standard library only).

It lists the catchments the caller may see, fetches one weekly (public) or daily (with a key)
series with its unit, and prints it as a table, so another system can start from it::

    python docs/client_example.py --base-url http://127.0.0.1:8000 \
        --site SE-KAT-ROS --analyte benzoylecgonine --from 2025-03-01 --to 2025-04-30
    python docs/client_example.py --api-key ww_... ...          # daily values (viewer or above)

Errors come back in one envelope (``{"ok": false, "errors": [{"code", "message", ...}]}``);
the client prints them and exits with status 1. The test suite runs this file against a live
server (``tests/browser/test_client_example.py``).
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.parse
import urllib.request


def get_json(base_url: str, path: str, params: dict[str, str], api_key: str | None) -> dict:
    """GET ``base_url + path?params`` and decode the JSON body (raises HTTPError on 4xx/5xx)."""
    query = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
    request = urllib.request.Request(f"{base_url}{path}?{query}")
    request.add_header("Accept", "application/json")
    if api_key:
        request.add_header("X-API-Key", api_key)
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, call the API and print; 0 on success, 1 on an API error."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", default="http://127.0.0.1:8000")
    parser.add_argument("--api-key", default=None, help="omit for the public view")
    parser.add_argument("--site", default="SE-KAT-ROS")
    parser.add_argument("--analyte", default="benzoylecgonine")
    parser.add_argument("--measure", default="load_per_1000")
    parser.add_argument("--from", dest="start", default=None)
    parser.add_argument("--to", dest="end", default=None)
    args = parser.parse_args(argv)
    api = args.base_url.rstrip("/") + "/api/v1"
    try:
        sites = get_json(api, "/sites", {"limit": "1000"}, args.api_key)["items"]
        print("Catchments:", ", ".join(f"{s['site']} ({s['population']} inv.)" for s in sites))
        series = get_json(api, "/series", {"site": args.site, "analyte": args.analyte,
                                           "measure": args.measure, "from": args.start,
                                           "to": args.end}, args.api_key)
    except urllib.error.HTTPError as exc:
        body = json.loads(exc.read() or b"{}")
        for err in body.get("errors", []) or [{"code": exc.code, "message": body.get("error")}]:
            print(f"error {err.get('code')}: {err.get('message')}", file=sys.stderr)
        return 1
    field = series["value_field"]
    print(f"{series['site']} {series['analyte']}: {field} [{series['unit']}], "
          f"{series.get('aggregation', 'daily')}")
    for point in series["points"]:
        value = point.get(field)
        shown = "–" if value is None else f"{value:.2f}"
        print(f"{point['date']}  {shown:>10}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
