"""Errors that carry a message meant for the person who has to act on them.

Every error the product raises on purpose derives from :class:`RosterError`. The
``message`` class attribute is the default text; callers pass a more specific one
when they know more (the file, the line, the field).

An error that reaches a web response is answered from what it carries (one handler,
:mod:`al_roster.web.errors`, renders a page or JSON): ``status`` (HTTP), ``code`` (for
programs), :attr:`RosterError.shown` (the message the person reads: ``message``, unless the
error's ``public_message`` replaces a message meant for the logs), ``title`` and ``advice``
(the page's heading and what to do), ``retry_after`` (seconds, for 429 and 503) and
``log_as`` (a warning or error is logged under that label with :attr:`RosterError.logged`).
"""
from __future__ import annotations


class RosterError(Exception):
    """Base of every deliberate al_roster error."""

    message = "Something went wrong with the roster."
    code = "roster_error"
    status = 400
    title: str | None = None  # None: the page's heading follows the status
    advice: str | None = None
    public_message: str | None = None  # shown instead of ``message`` (then only logged)
    retry_after: int | None = None
    log_as: str | None = None
    log_level = "warning"
    #: Answering it signs out whoever was signed in (a refused sign-in).
    signs_out = False

    def __init__(self, message: str | None = None, **details):
        self.message = message or self.message
        self.details = details
        super().__init__(self.message)

    @property
    def shown(self) -> str:
        """What the person is told."""
        return self.public_message or self.message

    @property
    def logged(self) -> str:
        """What the log says after ``log_as``."""
        return self.message


class Refused(RosterError):
    """A request refused with a status of its own (who may see what, a missing field)."""

    code = "refused"

    def __init__(self, status: int, message: str, *, code: str | None = None, **details):
        super().__init__(message, **details)
        self.status = status
        if code is not None:
            self.code = code


class NotSignedIn(RosterError):
    message = "Sign in first: open this app from your ClassLink portal."
    code = "not_signed_in"
    status = 401
    title = "Sign in first"


class ConfigurationError(RosterError):
    """The site is missing a setting; the person is told so, the setting is logged."""

    message = "al_roster is not configured correctly."
    code = "configuration_error"
    status = 503
    title = "Not set up yet"
    public_message = "This part of the site is not set up yet."
    advice = "Please tell the site's support team; they can finish the set-up."
    log_as = "not configured"
    log_level = "error"


class DatabaseUnavailable(RosterError):
    """The database cannot be reached: answered by a page that needs nothing of it."""

    message = "The app cannot reach its database; try again in a minute."
    code = "database_unavailable"
    status = 503
    title = "Try again in a minute"
    retry_after = 60


class DistrictNotFound(RosterError):
    message = "No such district."
    code = "district_not_found"
    status = 404


class PackageRejected(RosterError):
    """The whole OneRoster package is unusable; nothing was changed."""

    message = "The OneRoster package was rejected."
    code = "package_rejected"
    status = 422

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
    status = 502

    def __init__(self, message: str | None = None, *, passing: bool = False, **details):
        super().__init__(message, **details)
        self.passing = passing


class SyncBusy(RosterError):
    message = "A sync of this district is already running."
    code = "sync_busy"
    status = 409


class RunStateError(RosterError):
    """An action that does not fit the run's status (approve an applied run, undo a held one)."""

    message = "That action does not fit this run."
    code = "run_state"
    status = 409


class UndoConflict(RunStateError):
    message = "Later runs changed the same records; undo those first."
    code = "undo_conflict"


class Conflict(RosterError):
    """The change would take something that already belongs to another (a tenant id, say)."""

    message = "That is already taken."
    code = "conflict"
    status = 409


class AccessDenied(RosterError):
    message = "You do not have access to this."
    code = "access_denied"
    status = 403
    title = "Not available"
