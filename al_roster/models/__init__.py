"""Peewee models, all bound to :data:`database` (the current app's database)."""
from .accounts import Account, AccountEvent
from .base import BaseModel, bind_database, database, is_postgres
from .classes import ImportedClass, Membership
from .district import District
from .events import RosterEvent
from .known_lines import KnownLines
from .lti import LTI_MODELS, LtiDeployment, LtiRegistration, LtiToolKey, UsedNonce
from .privacy import PrivacyAudit
from .questions import TeacherQuestion
from .roster import (
    ROSTER_MODELS,
    AcademicSession,
    Course,
    Enrollment,
    Org,
    RosterClass,
    RosterRecord,
    RosterRole,
    RosterUser,
    present,
)
from .runs import RunChange, RunIssue, SyncRun

ALL_MODELS = [
    District, SyncRun, RunIssue, RunChange, *ROSTER_MODELS.values(),
    Account, AccountEvent, ImportedClass, Membership, *LTI_MODELS, PrivacyAudit,
    TeacherQuestion, RosterEvent, KnownLines,
]

__all__ = [
    "ALL_MODELS", "ROSTER_MODELS", "AcademicSession", "Account", "AccountEvent", "BaseModel",
    "Course", "District", "Enrollment", "ImportedClass", "KnownLines", "LtiDeployment", "LtiRegistration",
    "LtiToolKey", "Membership", "Org", "PrivacyAudit", "RosterClass",
    "RosterEvent", "RosterRecord", "RosterRole", "RosterUser", "RunChange", "RunIssue", "SyncRun",
    "TeacherQuestion", "UsedNonce",
    "bind_database", "database", "is_postgres", "present",
]
