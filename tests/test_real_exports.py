"""Nights as real districts have them: exports that leave out a past term or a school, ids
the SIS writes with colons, braces or accents, booleans as 1/0, dates with a time. The copy
keeps what can be kept, says what it read differently, and imported classes follow.

Every test starts from the school of ``rosters.py`` (Ada imported Algebra I - Period 1) and
syncs the night's package on SQLite and PostgreSQL.
"""
from __future__ import annotations

import datetime as dt

import pytest
from packages import write_package
from rosters import account_for, school

from al_roster.models import (
    AcademicSession,
    Enrollment,
    ImportedClass,
    Membership,
    RosterClass,
    RosterUser,
    present,
)
from al_roster.services.class_import import import_classes, importable_classes
from al_roster.services.diagnostics import why_not_in_class
from al_roster.services.districts import add_district
from al_roster.sync.runner import sync_package

TODAY = dt.date.today()


@pytest.fixture
def night(app, tmp_path):
    """The district after its first night, and a function that syncs the next one."""
    district = add_district("north", "North District", plan="prime", rostering=True,
                            deletion_threshold=1.0)
    options = app.extensions["al_roster"].sync_options
    nights = iter(range(100))

    def sync(files, *, retouch=False):
        folder = write_package(tmp_path / f"night-{next(nights)}", files)
        if retouch:  # other bytes, the same rows: every row is read and compared again
            for path in folder.glob("*.csv"):
                path.write_text(path.read_text() + "\n")
        run = sync_package(district, folder, options)
        assert run.status == "applied", run.message
        return run

    sync(school(TODAY))
    ada = account_for(district, "tch-1", "teacher")
    import_classes(ada, ["cls-alg1"], today=TODAY)
    return district, sync, ada


def issues_of(run, file, field=None, severity=None):
    return [i for i in run.issues if i.file == file and (field is None or i.field == field)
            and (severity is None or i.severity == severity)]


def members(class_id) -> dict[str, bool]:
    """Who is in the imported class: sourcedId -> still in it."""
    klass = ImportedClass.get(ImportedClass.sourced_id == class_id)
    return {m.user_sourced_id: m.removed_at is None
            for m in Membership.select().where(Membership.imported_class == klass)}


def why(district, student, class_id):
    return why_not_in_class(district, student, class_id, today=TODAY)


def test_an_unknown_id_in_a_list_keeps_the_row_with_the_ids_that_resolve(night):
    """The export left out a past term and a closed school: the class that also ran in the
    past term, and the student also listed at the closed school, stay with everything
    hanging off them; only a row naming nothing that exists is skipped."""
    district, sync, ada = night
    files = school(TODAY)
    algebra = next(c for c in files["classes"] if c["sourcedId"] == "cls-alg1")
    algebra["termSourcedIds"] = "term-now,term-notexported"
    files["academicSessions"] = [s for s in files["academicSessions"]
                                 if s["sourcedId"] != "term-past"]
    history = next(c for c in files["classes"] if c["sourcedId"] == "cls-hist")
    files["classes"].remove(history)  # it ran in term-past only: the export leaves it out
    files["enrollments"] = [e for e in files["enrollments"] if e["classSourcedId"] != "cls-hist"]
    orphan = dict(history, sourcedId="cls-orphan", termSourcedIds="term-gone-1,term-gone-2")
    files["classes"].append(orphan)
    files["users"].append(dict(sourcedId="stu-9", enabledUser="true",
                               orgSourcedIds="sch-1,sch-notexported", role="student",
                               username="stu9", givenName="New", familyName="Arrival"))
    files["enrollments"].append(dict(sourcedId="enr-alg1-stu-9", classSourcedId="cls-alg1",
                                     schoolSourcedId="sch-1", userSourcedId="stu-9",
                                     role="student", primary="false"))
    run = sync(files)

    # The copy: the class and the student are there, their lists as the district wrote them.
    klass = RosterClass.get(RosterClass.sourced_id == "cls-alg1")
    assert klass.removed_run_id is None
    assert klass.term_sourced_ids == "term-now,term-notexported"
    student = RosterUser.get(RosterUser.sourced_id == "stu-9")
    assert student.removed_run_id is None and student.org_sourced_ids == "sch-1,sch-notexported"
    algebra_enrollments = {e.user_sourced_id for e in present(Enrollment, district.id)
                           if e.class_sourced_id == "cls-alg1"}
    assert algebra_enrollments == {"tch-1", "stu-1", "stu-2", "stu-3", "stu-9"}
    assert not RosterClass.select().where(RosterClass.sourced_id == "cls-orphan").exists()

    # The issues: a warning names each id that did not resolve; the orphan is an error.
    [term_warning] = issues_of(run, "classes.csv", "termSourcedIds", "warning")
    assert "'term-notexported'" in term_warning.message and "'term-now'" in term_warning.message
    assert term_warning.line == 1 + files["classes"].index(algebra) + 1
    [org_warning] = issues_of(run, "users.csv", "orgSourcedIds", "warning")
    assert "'sch-notexported'" in org_warning.message and "kept" in org_warning.message
    [orphan_error] = issues_of(run, "classes.csv", "termSourcedIds", "error")
    assert "'term-gone-1'" in orphan_error.message and "'term-gone-2'" in orphan_error.message
    assert "skipped" in orphan_error.message
    assert not issues_of(run, "enrollments.csv", severity="error")

    # Imported classes: Algebra stays active, the new student is placed in it.
    assert ImportedClass.get(ImportedClass.sourced_id == "cls-alg1").status == "active"
    assert members("cls-alg1") == {"tch-1": True, "stu-1": True, "stu-2": True, "stu-3": True,
                                   "stu-9": True}
    assert why(district, "stu-9", "cls-alg1")["reason"] == "in_class_not_signed_in"
    groups = importable_classes(ada, today=TODAY)
    assert "cls-alg1" in {c.sourced_id for g in groups if g.sourced_id == "term-now"
                          for c in g.classes}

    # The same rows read again change nothing.
    again = sync(files, retouch=True)
    assert again.counts["classes"]["updated"] == 0 and again.counts["users"]["updated"] == 0
    assert again.counts["classes"]["unchanged"] == len(files["classes"]) - 1

    # The missing term and school arrive: the class and the student are right, unchanged.
    files["academicSessions"].append(dict(
        sourcedId="term-notexported", title="Summer Bridge", type="term",
        startDate=(TODAY + dt.timedelta(days=30)).isoformat(),
        endDate=(TODAY + dt.timedelta(days=300)).isoformat(), schoolYear=str(TODAY.year + 1)))
    files["orgs"].append(dict(sourcedId="sch-notexported", name="North Annex", type="school"))
    later = sync(files)
    assert not issues_of(later, "classes.csv", "termSourcedIds", "warning")
    assert not issues_of(later, "users.csv", "orgSourcedIds")
    assert later.counts["classes"]["updated"] == 0 and later.counts["users"]["updated"] == 0
    terms = {s.sourced_id for s in present(AcademicSession, district.id)}
    assert set(RosterClass.get(RosterClass.sourced_id == "cls-alg1")
               .term_sourced_ids.split(",")) <= terms
    assert members("cls-alg1")["stu-9"] is True


def test_values_the_spec_allows_or_districts_write_keep_their_rows(night):
    """Ids with a colon, braces and accents; enabledUser 1/0/yes; dates with a time, and an
    end date nobody can read: every row is kept, each rewrite is reported as a warning."""
    district, sync, ada = night
    files = school(TODAY)
    begun = (TODAY - dt.timedelta(days=20)).isoformat()
    files["classes"].append(dict(sourcedId="{CLS:0007}", title="Latin - Period 7",
                                 courseSourcedId="crs-alg", classType="scheduled",
                                 schoolSourcedId="sch-1", termSourcedIds="term-now",
                                 periods="7"))
    files["users"] += [
        dict(sourcedId="stü-13", enabledUser="1", orgSourcedIds="sch-1", role="student",
             username="stue13", givenName="Jürgen", familyName="Müller"),
        dict(sourcedId="stu:14", enabledUser="yes", orgSourcedIds="sch-1", role="student",
             username="stu14", givenName="Colon", familyName="Pupil"),
        dict(sourcedId="stu-15", enabledUser="0", orgSourcedIds="sch-1", role="student",
             username="stu15", givenName="Off", familyName="Pupil"),
    ]
    files["enrollments"] += [
        dict(sourcedId="{ENR:7-T}", classSourcedId="{CLS:0007}", schoolSourcedId="sch-1",
             userSourcedId="tch-1", role="teacher", primary="1"),
        dict(sourcedId="{ENR:7-13}", classSourcedId="{CLS:0007}", schoolSourcedId="sch-1",
             userSourcedId="stü-13", role="student", primary="0",
             beginDate=f"{begun}T00:00:00Z", endDate="sometime in June"),
        dict(sourcedId="enr:alg1:13", classSourcedId="cls-alg1", schoolSourcedId="sch-1",
             userSourcedId="stü-13", role="student", primary="false",
             beginDate=f"{begun}T01:30:00.0000000+00:00"),
        dict(sourcedId="enr:alg1:14", classSourcedId="cls-alg1", schoolSourcedId="sch-1",
             userSourcedId="stu:14", role="student"),
    ]
    now_term = next(s for s in files["academicSessions"] if s["sourcedId"] == "term-now")
    now_term["startDate"] += "T00:00:00Z"
    files["academicSessions"].append(dict(sourcedId="term-bad", title="Someday", type="term",
                                          startDate="08/15/2031", endDate="2031-12-20",
                                          schoolYear="2032"))
    run = sync(files)

    # The copy: ids as written, booleans read, dates as their date, the unreadable end left out.
    users = {u.sourced_id: u.enabled_user for u in present(RosterUser, district.id)}
    assert (users["stü-13"], users["stu:14"], users["stu-15"]) == (True, True, False)
    assert RosterClass.get(RosterClass.sourced_id == "{CLS:0007}").removed_run_id is None
    latin = Enrollment.get(Enrollment.sourced_id == "{ENR:7-13}")
    assert (str(latin.begin_date), latin.end_date, latin.primary) == (begun, None, False)
    assert Enrollment.get(Enrollment.sourced_id == "{ENR:7-T}").primary is True
    assert str(Enrollment.get(Enrollment.sourced_id == "enr:alg1:13").begin_date) == begun
    term = AcademicSession.get(AcademicSession.sourced_id == "term-now")
    assert str(term.start_date) == (TODAY - dt.timedelta(days=60)).isoformat()
    assert not AcademicSession.select().where(AcademicSession.sourced_id == "term-bad").exists()

    # The issues: no id refused; each value read differently is a warning.
    assert not issues_of(run, "users.csv", severity="error")
    assert not issues_of(run, "enrollments.csv", severity="error")
    assert not issues_of(run, "classes.csv", severity="error")
    [bad_start] = issues_of(run, "academicSessions.csv", "startDate", "error")
    assert "'08/15/2031'" in bad_start.message and "skipped" in bad_start.message
    enabled = " ".join(i.message for i in issues_of(run, "users.csv", "enabledUser", "warning"))
    assert "'1' read as 'true'" in enabled and "'0' read as 'false'" in enabled
    assert "'yes' read as 'true'" in enabled
    [begin_note] = issues_of(run, "enrollments.csv", "beginDate", "warning")
    assert begin_note.count == 2 and f"'{begun}'" in begin_note.message
    [end_note] = issues_of(run, "enrollments.csv", "endDate", "warning")
    assert "'sometime in June'" in end_note.message and "kept" in end_note.message
    assert issues_of(run, "academicSessions.csv", "startDate", "warning")

    # Imported classes: the accented and colon ids join Algebra; Latin imports with its roster.
    assert members("cls-alg1")["stü-13"] is True and members("cls-alg1")["stu:14"] is True
    import_classes(ada, ["{CLS:0007}"], today=TODAY)
    assert members("{CLS:0007}") == {"tch-1": True, "stü-13": True}
    assert why(district, "stü-13", "{CLS:0007}")["reason"] == "in_class_not_signed_in"
    assert why(district, "stu:14", "cls-alg1")["reason"] == "in_class_not_signed_in"

    # The same rows read again change nothing: what was rewritten hashes the same.
    again = sync(files, retouch=True)
    assert {name: c["updated"] for name, c in again.counts.items() if "updated" in c} == {
        name: 0 for name, c in again.counts.items() if "updated" in c}


def test_why_names_the_day_a_future_enrollment_starts(night):
    """A student enrolled from next month is not in the class yet; "why" says when they
    will be, not that the next sync adds them."""
    district, sync, ada = night
    files = school(TODAY)
    starts = TODAY + dt.timedelta(days=12)
    files["enrollments"].append(dict(sourcedId="enr-alg1-stu-9", classSourcedId="cls-alg1",
                                     schoolSourcedId="sch-1", userSourcedId="stu-9",
                                     role="student", primary="false",
                                     beginDate=starts.isoformat()))
    files["users"].append(dict(sourcedId="stu-9", enabledUser="true", orgSourcedIds="sch-1",
                               role="student", username="stu9", givenName="Late",
                               familyName="Starter"))
    sync(files)
    assert str(Enrollment.get(Enrollment.sourced_id == "enr-alg1-stu-9").begin_date) == \
        starts.isoformat()
    assert "stu-9" not in members("cls-alg1")
    answer = why(district, "stu-9", "cls-alg1")
    assert answer["reason"] == "enrollment_not_started", answer["answer"]
    assert f"starts on {starts.isoformat()}" in answer["answer"]
    assert "next sync" not in answer["answer"]
    assert answer["beginDate"] == starts.isoformat()
