"""Errors raised by the library. The CLI turns them into one-line messages and exit codes."""

from __future__ import annotations

__all__ = ["AuditorError", "IngestError", "RubricError", "ReadOnlyError", "ConfigError", "StoreLockedError",
           "CampaignError", "NotAllowed", "NotFound", "CampaignClosed", "InvalidAnswer"]


class AuditorError(Exception):
    """Base class: every error the library raises on purpose. Its message already says the fix."""


class RubricError(AuditorError):
    """A rubric file is invalid or a rubric name is unknown."""


class ConfigError(AuditorError):
    """A judge config is invalid."""


class ReadOnlyError(AuditorError):
    """A write was attempted through a read-only path (``auditor sql``)."""


class StoreLockedError(AuditorError):
    """The store file is held by another process (DuckDB allows one writer); the message names that process."""


class CampaignError(AuditorError):
    """A campaign request that cannot be done. ``status`` is the HTTP status the web app answers with."""

    status = 400


class NotAllowed(CampaignError):
    """A wrong token, or an item that is not assigned to this annotator."""

    status = 403


class NotFound(CampaignError):
    status = 404


class CampaignClosed(CampaignError):
    """The campaign is closed: it accepts no submission."""

    status = 409


class InvalidAnswer(CampaignError):
    """An unknown dimension or option, or a required answer left out."""

    status = 422


class IngestError(AuditorError):
    """A rejected input. Names the file, the row or line, the field, the fault and the fix.

    The store is left unchanged whenever this is raised.
    """

    def __init__(self, path: str, problem: str, *, row: int | None = None, field: str | None = None,
                 fix: str | None = None, where: str = "row"):
        self.path, self.row, self.field, self.problem, self.fix = path, row, field, problem, fix
        parts = [str(path)]
        if row is not None:
            parts.append(f"{where} {row}")
        if field is not None:
            parts.append(f"field '{field}'")
        msg = ": ".join([", ".join(parts), problem])
        if fix:
            msg += f" Fix: {fix}"
        super().__init__(msg)
