"""The examples in the core's docstrings (``>>>``) run and print what they show."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import wastewater

FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def _modules_with_examples() -> list[str]:
    names = []
    for info in pkgutil.walk_packages(wastewater.__path__, "wastewater."):
        if ".migrations" in info.name:
            continue
        module = importlib.import_module(info.name)
        if any(t.examples for t in doctest.DocTestFinder().find(module)):
            names.append(info.name)
    return names


MODULES = _modules_with_examples()


def test_the_core_has_examples():
    assert {"wastewater.units", "wastewater.normalisation", "wastewater.jsonsafe"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=FLAGS, verbose=False, report=True)
    assert result.attempted > 0
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples in {name} failed (output above)"
