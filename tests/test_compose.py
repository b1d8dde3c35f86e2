"""Deployment files: docker-compose.yml, Dockerfile and .dockerignore.

No Docker engine runs on the development machine, so these tests check what can be checked
without one:

* the compose structure (services, named volume, healthchecks, ``depends_on`` conditions,
  required secrets, environment names that the settings classes really read), parsed with PyYAML
  and interpolated with the Compose variable rules (``${VAR:-default}``, ``${VAR:?message}``,
  ``$$``);
* the Dockerfile (base image, non-root ``USER``, ``EXPOSE``, ``CMD``, no dev dependencies) and that
  every ``COPY`` source survives ``.dockerignore``;
* the wheel built from exactly the Docker build context carries the Alembic migrations and the
  ``wastewater`` console script (slow: builds a wheel);
* the compose ``api`` command itself, run here as a shell command against a fresh PostgreSQL
  database: it migrates the database to head and then serves ``/api/v1/health`` with several
  uvicorn workers (slow, postgres).
"""

from __future__ import annotations

import fnmatch
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import uuid
import zipfile
from pathlib import Path

import pytest
import yaml

from tests.servers import free_port

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"

_VAR = re.compile(
    r"\$(?:(?P<escaped>\$)|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}"
    r"|(?P<named>[A-Za-z_][A-Za-z0-9_]*))"
)


class InterpolationError(Exception):
    """A required variable (``${VAR:?message}``) is unset or empty."""


def interpolate(value: str, env: dict[str, str]) -> str:
    """Substitute variables in one compose string as ``docker compose`` does.

    Supports the forms documented in the Compose specification (§ Interpolation): ``$VAR``,
    ``${VAR}``, ``${VAR:-default}`` / ``${VAR-default}``, ``${VAR:?err}`` / ``${VAR?err}`` and
    ``$$`` for a literal ``$``.
    """

    def replace(match: re.Match[str]) -> str:
        if match.group("escaped"):
            return "$"
        name = match.group("braced") or match.group("named")
        op, arg = match.group("op"), match.group("arg")
        current = env.get(name)
        missing = current is None or (op is not None and op.startswith(":") and current == "")
        if op in (":-", "-"):
            return arg if missing else current
        if op in (":?", "?"):
            if missing:
                raise InterpolationError(f"required variable {name} is missing a value: {arg}")
            return current
        return current or ""

    return _VAR.sub(replace, value)


def resolve(node, env: dict[str, str]):
    """Interpolate every string of a parsed compose tree (keys are not interpolated)."""
    if isinstance(node, dict):
        return {k: resolve(v, env) for k, v in node.items()}
    if isinstance(node, list):
        return [resolve(v, env) for v in node]
    if isinstance(node, str):
        return interpolate(node, env)
    return node


@pytest.fixture(scope="module")
def raw() -> dict:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def compose(raw: dict) -> dict:
    env = {"POSTGRES_PASSWORD": "s3cret"}
    return resolve(raw, env)


# --------------------------------------------------------------------------- compose structure


def test_services_and_named_volume(compose: dict) -> None:
    services = compose["services"]
    assert {"db", "api"} <= set(services)
    assert services["db"]["image"] == "postgres:15"
    assert "pgdata:/var/lib/postgresql/data" in services["db"]["volumes"]
    assert "pgdata" in compose["volumes"]  # a named volume, not a bind mount
    # optional dask services are opt-in through a profile, never started by a bare `up`
    for name in ("scheduler", "worker"):
        assert services[name]["profiles"] == ["dask"]


def test_alerts_worker_service(compose: dict) -> None:
    """The outbox is drained by `wastewater worker`, started by a bare `up`, after the api has
    migrated the schema, restarted when it dies (a restart loses nothing: docs/operations.md §8)."""
    svc = compose["services"]["alerts-worker"]
    assert svc["command"] == ["wastewater", "worker"]
    assert "profiles" not in svc and svc["restart"] == "unless-stopped"
    assert svc["depends_on"]["api"]["condition"] == "service_healthy"
    assert svc["environment"]["WASTEWATER_DATABASE_URL"] == \
        compose["services"]["api"]["environment"]["WASTEWATER_DATABASE_URL"]
    assert {"WASTEWATER_SMTP_HOST", "WASTEWATER_SMTP_PORT", "WASTEWATER_SMTP_TLS",
            "WASTEWATER_MAIL_FROM", "WASTEWATER_PUBLIC_BASE_URL"} <= set(svc["environment"])


def test_db_healthcheck_uses_pg_isready(compose: dict) -> None:
    hc = compose["services"]["db"]["healthcheck"]
    assert hc["test"][0] == "CMD-SHELL"
    assert hc["test"][1].startswith("pg_isready ")
    # `$$` in the file must reach the container shell as `$` (variables of the db container)
    assert '-U "${POSTGRES_USER}"' in hc["test"][1]
    assert hc["retries"] >= 3


def test_api_waits_for_healthy_db_and_has_own_healthcheck(compose: dict) -> None:
    api = compose["services"]["api"]
    assert api["depends_on"]["db"]["condition"] == "service_healthy"
    probe = " ".join(api["healthcheck"]["test"])
    assert "http://127.0.0.1:8000/api/v1/health" in probe
    assert api["healthcheck"]["test"][0] == "CMD"
    assert api["ports"] == ["8000:8000"]
    worker = compose["services"]["worker"]
    assert worker["depends_on"]["scheduler"]["condition"] == "service_healthy"


def test_api_command_migrates_then_serves_with_several_workers(compose: dict) -> None:
    cmd = compose["services"]["api"]["command"]
    assert cmd[:2] == ["sh", "-c"]
    script = cmd[2]
    upgrade, _, serve = script.partition("&&")
    assert shlex.split(upgrade) == ["wastewater", "db", "upgrade"]
    args = shlex.split(serve)
    assert args[:4] == ["exec", "uvicorn", "service.app:create_app", "--factory"]
    workers = args[args.index("--workers") + 1]
    # ${WEB_CONCURRENCY:-4} is expanded by the container shell; compose sets WEB_CONCURRENCY=4
    assert workers == "${WEB_CONCURRENCY:-4}"
    assert int(compose["services"]["api"]["environment"]["WEB_CONCURRENCY"]) >= 2
    assert args[args.index("--host") + 1] == "0.0.0.0"


def test_database_url_is_built_from_required_secret(compose: dict) -> None:
    env = compose["services"]["api"]["environment"]
    assert env["WASTEWATER_DATABASE_URL"] == (
        "postgresql+psycopg://wastewater:s3cret@db:5432/wastewater"
    )
    assert compose["services"]["db"]["environment"]["POSTGRES_PASSWORD"] == "s3cret"
    # optional settings are passed through (null value) so an unset variable stays unset
    assert env["WASTEWATER_DASK_SCHEDULER"] is None
    assert env["WASTEWATER_ADMIN_KEY"] is None


def test_missing_secret_stops_compose_with_a_message(raw: dict) -> None:
    with pytest.raises(InterpolationError, match="POSTGRES_PASSWORD.*docs/operations.md"):
        resolve(raw, {})
    with pytest.raises(InterpolationError, match="POSTGRES_PASSWORD"):
        resolve(raw, {"POSTGRES_PASSWORD": ""})  # `:?` also rejects an empty value


def test_compose_overrides_reach_the_url(raw: dict) -> None:
    env = {"POSTGRES_PASSWORD": "pw", "POSTGRES_USER": "ww", "POSTGRES_DB": "malmo"}
    api_env = resolve(raw, env)["services"]["api"]["environment"]
    assert api_env["WASTEWATER_DATABASE_URL"] == "postgresql+psycopg://ww:pw@db:5432/malmo"


def test_every_wastewater_variable_is_a_real_setting(compose: dict) -> None:
    """A misspelt WASTEWATER_* name would be silently ignored by pydantic-settings."""
    from api.config import Settings
    from wastewater.delivery import DeliverySettings
    from wastewater.distributed import DaskSettings

    known = {f"WASTEWATER_{name.upper()}" for name in Settings.model_fields}
    known |= {f"WASTEWATER_{name.upper()}" for name in DaskSettings.model_fields}
    known |= {f"WASTEWATER_{name.upper()}" for name in DeliverySettings.model_fields}
    used = {
        k
        for svc in compose["services"].values()
        for k in (svc.get("environment") or {})
        if k.startswith("WASTEWATER_")
    }
    assert used, "the api must be configured through WASTEWATER_* variables"
    assert used <= known, f"not read by any settings class: {sorted(used - known)}"


def test_interpolation_rules() -> None:
    env = {"A": "x", "E": ""}
    assert interpolate("${A:-d}/${E:-d}/${E-d}/${U-d}/$$A/$A", env) == "x/d//d/$A/x"
    with pytest.raises(InterpolationError, match="need U"):
        interpolate("${U:?need U}", env)
    assert interpolate("${E?fine}", env) == ""


# --------------------------------------------------------------------------- Dockerfile


def _dockerfile_instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text(encoding="utf-8").replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        op, _, rest = line.partition(" ")
        out.append((op.upper(), rest.strip()))
    return out


def _final_stage() -> list[tuple[str, str]]:
    instr = _dockerfile_instructions()
    last_from = max(i for i, (op, _) in enumerate(instr) if op == "FROM")
    return instr[last_from:]


def test_dockerfile_base_user_expose_cmd() -> None:
    stage = _final_stage()
    assert stage[0] == ("FROM", "python:3.11-slim")
    ops = [op for op, _ in stage]
    users = [arg for op, arg in stage if op == "USER"]
    assert users and users[-1].split(":")[0] not in {"root", "0"}
    assert ops.index("USER") < ops.index("CMD")  # the server never runs as root
    assert ("EXPOSE", "8000") in stage
    cmd = yaml.safe_load(dict(stage)["CMD"])  # exec form is a JSON (hence YAML) list
    assert cmd[:2] == ["sh", "-c"]
    assert cmd[2].startswith("wastewater db upgrade && exec uvicorn service.app:create_app --factory")
    assert "--workers" in cmd[2]
    assert "/api/v1/health" in dict(stage)["HEALTHCHECK"]


def test_dockerfile_installs_no_dev_dependencies() -> None:
    runs = " ".join(arg for op, arg in _dockerfile_instructions() if op == "RUN")
    assert "pip install" in runs
    assert "[test]" not in runs and "-e " not in runs and "requirements-dev" not in runs
    import tomllib

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    for extra in extras:
        assert f"[{extra}]" not in runs


def _dockerignore_excludes(rel: str) -> bool:
    """Does ``.dockerignore`` exclude the context path ``rel`` (last matching rule wins)?"""
    excluded = False
    parts = rel.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for raw_line in DOCKERIGNORE.read_text().splitlines():
        line = raw_line.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = line.lstrip("!").rstrip("/")
        if pattern.startswith("**/"):
            hit = any(fnmatch.fnmatch(p, pattern[3:]) for p in parts) or any(
                fnmatch.fnmatch(p, pattern) for p in prefixes
            )
        else:
            hit = any(fnmatch.fnmatch(p, pattern) for p in prefixes)
        if hit:
            excluded = not negate
    return excluded


def _copy_sources() -> list[str]:
    sources = []
    for op, arg in _dockerfile_instructions():
        if op == "COPY" and "--from=" not in arg:
            sources += arg.split()[:-1]
    return sources


def test_dockerignore_keeps_copied_sources_and_drops_secrets() -> None:
    sources = _copy_sources()
    assert {"pyproject.toml", "README.md", "wastewater", "api", "dashboards"} <= set(sources)
    for src in sources:
        assert not _dockerignore_excludes(src), src
        assert (ROOT / src).exists(), src
    for path in (".venv/bin/python", ".git/HEAD", "wastewater.db", ".env", "tests/test_api.py",
                 "wastewater/__pycache__/x.pyc", "api/.env"):
        assert _dockerignore_excludes(path), path
    assert not _dockerignore_excludes("wastewater/storage/migrations/env.py")


def _build_context(dest: Path) -> None:
    """Copy the files Docker would send as build context (after ``.dockerignore``)."""
    for path in ROOT.rglob("*"):
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith((".venv/", ".git/")) or path.is_dir() or _dockerignore_excludes(rel):
            continue
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)


@pytest.mark.slow
def test_wheel_from_build_context_carries_migrations(tmp_path: Path) -> None:
    """What ``pip wheel .`` in the build stage produces (needs PyPI for build isolation)."""
    ctx = tmp_path / "ctx"
    _build_context(ctx)
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), "."],
        check=False, cwd=ctx, capture_output=True, text=True, timeout=300,
    )
    if proc.returncode != 0 and "Could not find a version" in proc.stderr + proc.stdout:
        pytest.skip("no package index reachable for the isolated build")
    assert proc.returncode == 0, proc.stderr[-2000:]
    (wheel,) = tmp_path.glob("wastewater-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "api/main.py" in names
    assert "wastewater/cli.py" in names
    assert "service/cli.py" in names and "service/app.py" in names
    assert any(n.startswith("wastewater/storage/migrations/versions/") and n.endswith(".py")
               for n in names)
    assert any(n.endswith("migrations/env.py") for n in names)
    entry = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "wastewater = service.cli:app" in zipfile.ZipFile(wheel).read(entry).decode()
    assert not any(n.startswith(("tests/", "benchmarks/")) for n in names)


# --------------------------------------------------------------------------- the command itself


@pytest.mark.slow
@pytest.mark.postgres
def test_compose_api_command_runs_migrations_and_serves(raw: dict, tmp_path: Path) -> None:
    """Run the api service's command (as compose would hand it to ``sh``) on this machine."""
    psycopg = pytest.importorskip("psycopg")
    try:
        admin = psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=test",
                                autocommit=True, connect_timeout=3)
    except psycopg.OperationalError:
        pytest.skip("PostgreSQL at 127.0.0.1:5432 is not running")
    dbname = f"ww_compose_{uuid.uuid4().hex[:8]}"
    admin.execute(f'CREATE DATABASE "{dbname}"')
    port = free_port()
    env = dict(os.environ)
    env.update(
        WASTEWATER_DATABASE_URL=f"postgresql+psycopg://postgres@127.0.0.1:5432/{dbname}",
        WEB_CONCURRENCY="2",
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
    )
    env.pop("WASTEWATER_AUTO_UPGRADE", None)
    script = resolve(raw, {"POSTGRES_PASSWORD": "x"})["services"]["api"]["command"][2]
    script = script.replace("--port 8000", f"--port {port}").replace("0.0.0.0", "127.0.0.1")
    probe = resolve(raw, {"POSTGRES_PASSWORD": "x"})["services"]["api"]["healthcheck"]["test"]
    probe = [p.replace(":8000/", f":{port}/") for p in probe[1:]]
    probe[0] = sys.executable
    proc = subprocess.Popen(["sh", "-c", script], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        healthy = False
        while time.monotonic() < deadline and proc.poll() is None:
            if subprocess.run(probe, check=False, capture_output=True).returncode == 0:
                healthy = True
                break
            time.sleep(0.5)
        assert healthy, (proc.stdout.read().decode() if proc.poll() is not None else "timeout")
        with psycopg.connect(f"host=127.0.0.1 port=5432 user=postgres dbname={dbname}") as conn:
            (version,) = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        from alembic.script import ScriptDirectory

        from wastewater.storage import database

        head = ScriptDirectory.from_config(database.alembic_config()).get_current_head()
        assert version == head
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)  # the group started above, nothing else
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        admin.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
        admin.close()
    assert proc.returncode == 0  # SIGTERM → graceful uvicorn shutdown


# --------------------------------------------------------------------------- documentation


def test_every_variable_is_documented_in_operations_guide(raw: dict) -> None:
    """Each variable compose reads, and each settings field, has a row in docs/operations.md."""
    from api.config import Settings
    from wastewater.distributed import DaskSettings

    guide = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")

    def strings(node):  # every string value of the YAML tree
        if isinstance(node, dict):
            for v in node.values():
                yield from strings(v)
        elif isinstance(node, list):
            for v in node:
                yield from strings(v)
        elif isinstance(node, str):
            yield node

    names = {m.group("braced") or m.group("named") for value in strings(raw)
             for m in _VAR.finditer(value) if not m.group("escaped")}
    names |= {k for svc in raw["services"].values() for k in (svc.get("environment") or {})}
    names |= {k for k in raw.get("x-api-environment", {})}
    names |= {f"WASTEWATER_{f.upper()}" for f in Settings.model_fields}
    names |= {f"WASTEWATER_{f.upper()}" for f in DaskSettings.model_fields}
    from wastewater.delivery import DeliverySettings

    names |= {f"WASTEWATER_{f.upper()}" for f in DeliverySettings.model_fields}
    missing = sorted(n for n in names if f"`{n}`" not in guide)
    assert not missing, f"add these to the settings table of docs/operations.md: {missing}"
