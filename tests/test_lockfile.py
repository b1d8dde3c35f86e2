"""The lock files pin every dependency that ``pyproject.toml`` names, at a version it allows.

``requirements.lock`` (runtime; the Dockerfile installs with it as constraints) and
``requirements-test.lock`` (runtime + ``[test]``; ``make`` installs with it) are written by
``make lock`` (pip-tools).  A dependency added to ``pyproject.toml`` without re-locking would be
installed at whatever version is newest that day, so this test fails until ``make lock`` is run.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]


def _pins(name: str) -> dict[str, Version]:
    pins: dict[str, Version] = {}
    for line in (ROOT / name).read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        req = Requirement(line)
        (spec,) = req.specifier  # exactly one "==" pin per line
        assert spec.operator == "==", line
        pins[canonicalize_name(req.name)] = Version(spec.version)
    return pins


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


@pytest.mark.parametrize(
    ("lock", "extras"), [("requirements.lock", ()), ("requirements-test.lock", ("test",))]
)
def test_lock_pins_every_declared_dependency_within_its_range(lock: str, extras: tuple) -> None:
    project = _project()
    declared = list(project["dependencies"])
    for extra in extras:
        declared += project["optional-dependencies"][extra]
    pins = _pins(lock)
    for text in declared:
        req = Requirement(text)
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} is not in {lock}: run `make lock`"
        assert req.specifier.contains(pins[name], prereleases=True), (
            f"{lock} pins {req.name}=={pins[name]}, outside {req.specifier}: run `make lock`"
        )


def test_runtime_lock_is_the_runtime_part_of_the_test_lock() -> None:
    runtime, test = _pins("requirements.lock"), _pins("requirements-test.lock")
    # Same versions where both pin a package, so the image runs what the tests ran.
    assert {n: v for n, v in runtime.items() if n in test and test[n] != v} == {}
    # The test runners never reach the image (pyyaml may: dask needs it at run time).
    assert not {"pytest", "hypothesis", "schemathesis", "playwright"} & set(runtime)
