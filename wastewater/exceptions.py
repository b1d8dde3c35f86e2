"""Exception hierarchy of the core library (one base, each refining a built-in)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from wastewater.ingest import ValidationReport


class WastewaterError(Exception):
    """Base class of every error raised by the ``wastewater`` package."""


class UnitError(WastewaterError, ValueError):
    """A unit string is unknown or has the wrong dimension."""


class UnknownAnalyteError(WastewaterError, KeyError):
    """An analyte name, alias or CAS number is not in the substance catalogue."""


class UnknownParameterError(WastewaterError, KeyError):
    """A literature parameter (correction factor, dose ...) is not in the catalogue."""


class ValidationFailed(WastewaterError, ValueError):
    """An upload was rejected; ``report`` holds every problem found."""

    def __init__(self, report: ValidationReport) -> None:
        self.report = report
        n = len([i for i in report.issues if i.severity == "error"])
        super().__init__(f"upload rejected: {n} error(s); see the validation report")


class NotFound(WastewaterError, LookupError):
    """A requested site, sample, upload or event does not exist."""


class StorageUnavailable(WastewaterError, RuntimeError):
    """The database cannot be reached; nothing was written. Retry later."""
