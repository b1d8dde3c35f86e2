"""Unknown query parameters answer 422 naming the parameter and the closest valid one."""

from __future__ import annotations

from api.query import unknown_query_errors

B = "/api/v1"
Q = "site=SE-BIG&analyte=benzoylecgonine"


def test_misspelt_window_is_refused_with_the_right_name(clients):
    # `start=` instead of `from=` used to be ignored silently and return the whole period.
    r = clients["viewer"].get(f"{B}/series?{Q}&start=2025-01-10")
    assert r.status_code == 422
    (err,) = r.json()["errors"]
    assert err["code"] == "unknown_query_parameter" and err["column"] == "start"
    assert err["location"] == "query"
    assert "Okänd parameter 'start'" in err["message_sv"]
    ok = clients["viewer"].get(f"{B}/series?{Q}&from=2025-01-10&to=2025-01-11")
    assert ok.status_code == 200


def test_closest_valid_name_is_suggested(clients):
    r = clients["public"].get(f"{B}/series?{Q}&analtye=x")
    (err,) = r.json()["errors"]
    assert r.status_code == 422 and err["suggestion"] == "analyte"
    assert "did you mean 'analyte'?" in err["message"] and "Menade du 'analyte'?" in err["message_sv"]


def test_declared_parameters_of_dependencies_count_as_known(clients):
    # limit/offset come from a shared paging dependency, not the route's own signature.
    r = clients["admin"].get(f"{B}/events?limit=5&offset=0")
    assert r.status_code == 200, r.text


def test_pure_helper_lists_each_unknown_name_once_in_order():
    errs = unknown_query_errors(["b", "x", "x", "a", "y"], frozenset({"a", "b"}))
    assert [e["column"] for e in errs] == ["x", "y"]
    assert unknown_query_errors(["a"], frozenset({"a"})) == []
