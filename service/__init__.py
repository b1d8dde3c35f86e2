"""The deployed service: the ASGI app and the ``wastewater`` console script.

The only package that imports both edges: :mod:`service.app` composes the API (``api``) and the
dashboard (``dashboards``) into one ASGI app; :mod:`service.cli` adds the commands that need them
(``serve``, ``demo``, ``report``) to the core command line :mod:`wastewater.cli`. The core imports
neither edge and the two edges never import each other (import-linter contracts in
pyproject.toml, docs/architecture.md).
"""
