# syntax=docker/dockerfile:1
# Image of the wastewater service: API (uvicorn) and, with the same image, dask scheduler/workers.
# Build:  docker build -t wastewater .      Run: see docker-compose.yml and docs/operations.md

# ---- build stage: turn the source tree into a wheel (no dev/test extras) -----------------------
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY wastewater ./wastewater
COPY api ./api
COPY dashboards ./dashboards
COPY service ./service
RUN pip wheel --no-deps --wheel-dir /wheels .

# ---- runtime stage --------------------------------------------------------------------------
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Runtime dependencies only: `pip install <wheel>` installs [project.dependencies], never the
# [test] extra (pytest, hypothesis, playwright, schemathesis ...), each at the version pinned in
# requirements.lock (the same lock `make` uses), so two builds install the same packages.
COPY --from=build /wheels /tmp/wheels
COPY requirements.lock /tmp/requirements.lock
RUN pip install -c /tmp/requirements.lock /tmp/wheels/*.whl \
    && rm -rf /tmp/wheels /tmp/requirements.lock

# Unprivileged user with a fixed uid/gid (volume permissions stay predictable across rebuilds).
RUN groupadd --system --gid 10001 wastewater \
    && useradd --system --uid 10001 --gid wastewater --create-home --home-dir /home/wastewater \
       --shell /usr/sbin/nologin wastewater
USER wastewater:wastewater
# An empty working directory: the package is imported from site-packages, never from a source
# tree, and SQLite fallbacks (never used in production) could not write elsewhere.
WORKDIR /home/wastewater

EXPOSE 8000

HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=5 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/api/v1/health', timeout=4).status == 200 else 1)"]

# Apply migrations, then serve with WEB_CONCURRENCY worker processes (default 4).
CMD ["sh", "-c", "wastewater db upgrade && exec uvicorn service.app:create_app --factory --host 0.0.0.0 --port 8000 --workers \"${WEB_CONCURRENCY:-4}\" --proxy-headers --forwarded-allow-ips '*'"]
