"""Wastewater-based epidemiology of illicit drugs: ingest, normalisation, change tests."""

__version__ = "0.1.0"

