"""Deleting a district completely: what a data privacy agreement asks when the contract ends
or the district asks.

:func:`purge_district` holds the district's sync lock (a sync, undo or clean-up of it under
way makes the purge wait, up to ``wait_seconds``, then refuse: it never interleaves), deletes
in one transaction every row that belongs to the district (its roster copy, runs with their
changes and issues, accounts and their events, imported classes and memberships, roster events, LTI
deployments, and a registration no other district uses) and writes one
:class:`~al_roster.models.PrivacyAudit` record (slug, who, when, counts; no value of any
record). Only after the commit does it delete what is on disk: kept packages, the CSV drop's
processed files and the package files still waiting in it, pull folders and timings, the
lock file. Other districts are not touched.

Kept on purpose: the LTI tool's own keys (one key pair serves every district and holds no
district data) and spent nonces (``used_nonce``: a hash of a random value, naming no one and
no district, forgotten after a day; see :mod:`.nonces`).
"""
from __future__ import annotations

import os
import shutil
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path

from flask import current_app, has_app_context

from ..errors import RosterError, SyncBusy
from ..models import (
    ROSTER_MODELS,
    Account,
    AccountEvent,
    District,
    ImportedClass,
    KnownLines,
    LtiDeployment,
    LtiRegistration,
    Membership,
    PrivacyAudit,
    RosterEvent,
    RunChange,
    RunIssue,
    SyncRun,
    TeacherQuestion,
    database,
)
from ..models.base import write_transaction
from ..models.privacy import PURGE
from ..models.runs import RUNNING
from ..sync.lock import DistrictLock
from .retention import remove_processed

#: Names in a drop folder that are (or are becoming) packages: deleted with the district.
_PACKAGE_NAMES = (".zip", ".part", ".tmp", ".filepart", ".partial", ".crdownload")
_WAIT_STEP = 0.25


class PurgeRefused(RosterError):
    message = "The district was not purged."
    code = "purge_refused"
    status = 409


@dataclass
class PurgeReport:
    district: str
    tables: dict[str, int]
    files: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    audit: int | None = None

    def to_dict(self) -> dict:
        return {"district": self.district, "tables": self.tables, "files": self.files,
                "notes": self.notes, "audit": self.audit}


def what_purge_removes(district: District) -> dict[str, int]:
    """Rows per table a purge of ``district`` would delete (nothing is changed)."""
    return {table: model.select().where(condition).count()
            for table, model, condition in _district_rows(district)}


def _district_rows(district: District):
    """(table, model, condition) of every row of the district, in the order they go."""
    runs = SyncRun.select(SyncRun.id).where(SyncRun.district == district.id)
    accounts = Account.select(Account.id).where(Account.district == district.id)
    classes = ImportedClass.select(ImportedClass.id).where(ImportedClass.district == district.id)
    yield "run_change", RunChange, RunChange.run_id.in_(runs)
    yield "run_issue", RunIssue, RunIssue.run.in_(runs)
    for model in ROSTER_MODELS.values():
        yield model._meta.table_name, model, model.district_id == district.id
    yield "roster_known_lines", KnownLines, KnownLines.district == district.id
    yield "teacher_question", TeacherQuestion, TeacherQuestion.district == district.id
    yield "roster_event", RosterEvent, RosterEvent.district == district.id
    yield "membership", Membership, ((Membership.district_id == district.id)
                                     | Membership.imported_class.in_(classes))
    yield "imported_class", ImportedClass, ImportedClass.district == district.id
    yield "account_event", AccountEvent, AccountEvent.account.in_(accounts)
    yield "account", Account, Account.district == district.id
    yield "lti_deployment", LtiDeployment, LtiDeployment.district == district.id
    yield "sync_run", SyncRun, SyncRun.district == district.id


def purge_district(district: District, storage_dir: str | os.PathLike, *, by: str,
                   wait_seconds: float = 0.0,
                   staff_ids: frozenset[int] = frozenset()) -> PurgeReport:
    """Deletes ``district`` and everything derived from it (see the module); returns what
    was removed, per table and on disk. Raises :class:`SyncBusy` when the district stays
    busy for ``wait_seconds``, :class:`PurgeRefused` when one of its accounts is named in
    AL_ROSTER_STAFF (``staff_ids``: the setting would go on naming that id)."""
    listed = sorted(a.id for a in Account.select(Account.id).where(
        (Account.district == district.id) & Account.id.in_(sorted(staff_ids) or [0])))
    if listed:
        raise PurgeRefused(
            f"Account(s) {', '.join(map(str, listed))} of {district.slug} are named staff in "
            "AL_ROSTER_STAFF; take them out of that setting first, so it never names an id "
            "given again. The district was not purged.")
    storage = Path(storage_dir)
    lock = DistrictLock(database.obj, district.id, storage / "locks")
    _acquire(lock, district, wait_seconds)
    with lock:
        runs = list(SyncRun.select(SyncRun.id, SyncRun.package_path)
                    .where(SyncRun.district == district.id))
        accounts = [a.id for a in Account.select(Account.id).where(
            Account.district == district.id)]
        classes = [c.id for c in ImportedClass.select(ImportedClass.id).where(
            ImportedClass.district == district.id)]
        drop = _drop_folder(district)
        with write_transaction(database.obj):
            tables = _delete_rows(district)
            audit = PrivacyAudit.create(action=PURGE, district_slug=district.slug, by=by,
                                        counts={"tables": tables})
    report = PurgeReport(district.slug, tables, audit=audit.id, notes=[
        "Spent LTI nonces (used_nonce) are hashes of random values that name no district; "
        "they are forgotten a day after use.",
        "The LTI tool's own keys serve every district and hold no district data; kept."])
    report.files = _delete_files(district, storage, runs, drop, report.notes)
    PrivacyAudit.update(counts={"tables": tables, "files": report.files}).where(
        PrivacyAudit.id == audit.id).execute()
    _announce(district.slug, accounts, classes)
    return report


def _acquire(lock: DistrictLock, district: District, wait_seconds: float) -> None:
    deadline = time.monotonic() + max(0.0, wait_seconds)
    while not lock.try_acquire():
        if time.monotonic() >= deadline:
            running = (SyncRun.select().where((SyncRun.district == district.id)
                                              & (SyncRun.status == RUNNING))
                       .order_by(SyncRun.id.desc()).first())
            what = f"run {running.id} is running" if running else "a sync, undo or clean-up of it is running"
            waited = f" after waiting {wait_seconds:g} s" if wait_seconds else ""
            raise SyncBusy(f"District {district.slug} was not purged{waited}: {what}. Nothing "
                           "was deleted; try again when it has finished (or give --wait).")
        time.sleep(_WAIT_STEP)


def _delete_rows(district: District) -> dict[str, int]:
    counts: dict[str, int] = {}
    registrations = [d.registration_id for d in LtiDeployment.select(
        LtiDeployment.registration).where(LtiDeployment.district == district.id)]
    for table, model, condition in _district_rows(district):
        counts[table] = model.delete().where(condition).execute()
    unused = LtiRegistration.delete().where(
        LtiRegistration.id.in_(sorted(set(registrations)) or [0])
        & ~LtiRegistration.id.in_(LtiDeployment.select(LtiDeployment.registration)))
    counts["lti_registration"] = unused.execute()
    counts["district"] = District.delete().where(District.id == district.id).execute()
    return counts


def _drop_folder(district: District) -> Path | None:
    directory = (district.source_config or {}).get("directory")
    if district.source_kind != "csv_drop" or not directory:
        return None
    return Path(directory)


def _delete_files(district: District, storage: Path, runs, drop: Path | None,
                  notes: list[str]) -> dict[str, int]:
    files = {"packages": 0, "dropFiles": 0, "pullFolders": 0, "other": 0}
    packages = storage / "packages"
    for run in runs:
        for path in {Path(run.package_path) if run.package_path else None,
                     packages / f"run-{run.id}.zip"} - {None}:
            if path.parent.resolve() == packages.resolve() and _unlink(path):
                files["packages"] += 1
    if drop is not None:
        shared = [d.slug for d in District.select().where(District.source_kind == "csv_drop")
                  if os.path.realpath((d.source_config or {}).get("directory") or "")
                  == os.path.realpath(drop)]
        if shared:
            notes.append(f"The drop folder {drop} is also {', '.join(shared)}'s: left as it is.")
        else:
            files["dropFiles"] = remove_processed(drop) + _remove_waiting_packages(drop)
    pulls = storage / "pulls"
    for path in _entries(pulls):
        if path.name.startswith(f"{district.id}-") and path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
            files["pullFolders"] += 1
    for path in (pulls / f"{district.id}.seconds.json",
                 storage / "locks" / f"district-{district.id}.lock"):
        if _unlink(path):
            files["other"] += 1
    return files


def _remove_waiting_packages(drop: Path) -> int:
    """Regular files in the drop named like packages (synced or not), and the empty
    ``processed`` folder; never through a link."""
    removed = 0
    try:
        folder = os.open(drop, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError:
        return 0
    try:
        with os.scandir(folder) as entries:
            names = [e.name for e in entries]
        for name in names:
            info = os.stat(name, dir_fd=folder, follow_symlinks=False)
            if stat.S_ISREG(info.st_mode) and name.lower().endswith(_PACKAGE_NAMES):
                os.unlink(name, dir_fd=folder)
                removed += 1
            elif stat.S_ISDIR(info.st_mode) and name == "processed":
                try:
                    os.rmdir(name, dir_fd=folder)
                except OSError:
                    pass  # something else is in it: the district's, not ours
    finally:
        os.close(folder)
    return removed


def _entries(folder: Path) -> list[Path]:
    try:
        return list(folder.iterdir())
    except OSError:
        return []


def _unlink(path: Path) -> bool:
    try:
        os.unlink(path)
    except (FileNotFoundError, IsADirectoryError):
        return False
    return True


def _announce(slug: str, account_ids: list[int], class_ids: list[int]) -> None:
    if not has_app_context():
        return
    from ..signals import district_purged
    district_purged.send(current_app._get_current_object(), district=slug,
                         account_ids=account_ids, class_ids=class_ids)
