"""Errors that carry a message meant for the person who has to act on them.

Every error the product raises on purpose derives from :class:`RosterError`. The
``message`` class attribute is the default text; callers pass a more specific one
when they know more (the file, the line, the field).
"""
from __future__ import annotations


class RosterError(Exception):
    """Base of every deliberate al_roster error."""

    message = "Something went wrong with the roster."
    code = "roster_error"

    def __init__(self, message: str | None = None, **details):
        self.message = message or self.message
        self.details = details
        super().__init__(self.message)


class ConfigurationError(RosterError):
    message = "al_roster is not configured correctly."
    code = "configuration_error"


class DistrictNotFound(RosterError):
    message = "No such district."
    code = "district_not_found"


class PackageRejected(RosterError):
    """The whole OneRoster package is unusable; nothing was changed."""

    message = "The OneRoster package was rejected."
    code = "package_rejected"

    def __init__(self, message: str | None = None, *, file: str | None = None,
                 line: int | None = None, field: str | None = None, **details):
        super().__init__(message, file=file, line=line, field=field, **details)
        self.file, self.line, self.field = file, line, field


class SourceError(RosterError):
    """A district's source (REST API, CSV drop) could not deliver a complete package.

    ``passing`` marks a fault that may go away by itself (timeouts, HTTP 429 and 5xx after
    the pull's own retries, data changing during the pull): worth retrying later.
    """

    message = "The district's OneRoster source could not be read."
    code = "source_error"

    def __init__(self, message: str | None = None, *, passing: bool = False, **details):
        super().__init__(message, **details)
        self.passing = passing


class SyncBusy(RosterError):
    message = "A sync of this district is already running."
    code = "sync_busy"


class RunStateError(RosterError):
    """An action that does not fit the run's status (approve an applied run, undo a held one)."""

    message = "That action does not fit this run."
    code = "run_state"


class UndoConflict(RunStateError):
    message = "Later runs changed the same records; undo those first."
    code = "undo_conflict"


class Conflict(RosterError):
    """The change would take something that already belongs to another (a tenant id, say)."""

    message = "That is already taken."
    code = "conflict"


class AccessDenied(RosterError):
    message = "You do not have access to this."
    code = "access_denied"
