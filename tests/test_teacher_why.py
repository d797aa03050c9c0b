""""Someone missing or wrong?" on a class's page and over JSON: each answer a teacher can get,
what they may not learn, who may ask, the rate limit, the message, and what support sees."""
from __future__ import annotations

import copy
import datetime as dt
import html
import json

import pytest
from admin_helpers import account, with_console_people
from admin_helpers import sign_in as sign_in_with_token
from packages import write_package
from rosters import account_for, school, sign_in

from al_roster.models import Account, ImportedClass, Membership, TeacherQuestion
from al_roster.services.class_import import import_classes
from al_roster.services.districts import add_district
from al_roster.services.purge import purge_district
from al_roster.signals import teacher_message_ready
from al_roster.sync.runner import sync_package

TODAY = dt.date.today()
DAY = dt.timedelta(days=1)


def _user(sourced_id, given, family, *, org="sch-1", email=None):
    return dict(sourcedId=sourced_id, enabledUser="true", orgSourcedIds=org, role="student",
                username=sourced_id.replace("-", ""), givenName=given, familyName=family,
                email=email or f"{sourced_id}@north.example.org")


def _enrol(sourced_id, class_id, user, school_id="sch-1", **dates):
    return dict(sourcedId=sourced_id, classSourcedId=class_id, schoolSourcedId=school_id,
                userSourcedId=user, role="student", primary="false", **dates)


def north_files() -> dict:
    """rosters.school(): Ada teaches Algebra I - Period 1 (stu-1..3) and an upcoming Biology;
    Zoe sits in Grace's Chemistry only, Nia in Ada's Biology only, Omar in another school."""
    files = school(TODAY)
    files["orgs"].append(dict(sourcedId="sch-2", name="South Middle Campus", type="school"))
    files["classes"].append(dict(sourcedId="cls-art", title="Art Studio Secret", courseSourcedId="crs-geo",
                                 classType="scheduled", schoolSourcedId="sch-2",
                                 termSourcedIds="term-now", periods="7"))
    files["users"] += [_user("stu-zoe", "Zoe", "Other"), _user("stu-nia", "Nia", "New"),
                       _user("stu-omar", "Omar", "Elsewhere", org="sch-2",
                             email="omar.private@mail.example.org")]
    files["enrollments"] += [_enrol("enr-zoe", "cls-chem", "stu-zoe"),
                             _enrol("enr-nia", "cls-bio", "stu-nia"),
                             _enrol("enr-omar", "cls-art", "stu-omar", "sch-2")]
    return files


def sync(app, district, files, name, tmp_path, status="applied"):
    run = sync_package(district, write_package(tmp_path / name, files),
                       app.extensions["al_roster"].sync_options)
    assert run.status in ((status,) if status else ("held", "partial")), run.message
    return run


@pytest.fixture
def world(app, tmp_path):
    north = add_district("north", "North District", plan="prime", rostering=True,
                         deletion_threshold=1.0)
    south = add_district("south", "South District", plan="prime", rostering=True)
    files = north_files()
    first = sync(app, north, files, "north-1", tmp_path)
    south_files = with_console_people(school(TODAY), "adm-s")  # and staff-1
    south_files["users"].append(_user("stu-sam", "Sam", "Southern", email="sam@south.example.org"))
    sync(app, south, south_files, "south-1", tmp_path)
    ada = account_for(north, "tch-1", "teacher")
    klass = import_classes(ada, ["cls-alg1"])[0]
    return dict(north=north, south=south, files=files, first=first, ada=ada, klass=klass,
                tmp_path=tmp_path)


def resync(app, world, change, status="applied"):
    files = copy.deepcopy(world["files"])
    change(files)
    return sync(app, world["north"], files, "north-2", world["tmp_path"], status)


def drop_user(user):
    def change(files):
        files["users"] = [u for u in files["users"] if u["sourcedId"] != user]
        files["enrollments"] = [e for e in files["enrollments"] if e["userSourcedId"] != user]
    return change


def set_dates(enrollment, **dates):
    def change(files):
        for e in files["enrollments"]:
            if e["sourcedId"] == enrollment:
                e.update(dates)
    return change


def setup_removed_user(app, world):
    return resync(app, world, drop_user("stu-2"))


def setup_removed_enrollment(app, world):
    return resync(app, world, lambda f: f.update(enrollments=[
        e for e in f["enrollments"] if e["sourcedId"] != "enr-cls-alg1-stu-2"]))


def setup_ended(app, world):
    resync(app, world, set_dates("enr-cls-alg1-stu-2", endDate=(TODAY - 3 * DAY).isoformat()))


def setup_starts(app, world):
    resync(app, world, set_dates("enr-cls-alg1-stu-2", beginDate=(TODAY + 10 * DAY).isoformat()))


def setup_zoe_left(app, world):
    return resync(app, world, drop_user("stu-zoe"))


def setup_signed_in(app, world):
    account_for(world["north"], "stu-2", "student")


def setup_archived(app, world):
    def change(files):
        files["classes"] = [c for c in files["classes"] if c["sourcedId"] != "cls-alg1"]
        files["enrollments"] = [e for e in files["enrollments"]
                                if e["classSourcedId"] != "cls-alg1"]
    return resync(app, world, change)


def setup_not_added(app, world):
    Membership.delete().where((Membership.imported_class == world["klass"].id)
                              & (Membership.user_sourced_id == "stu-2")).execute()


def setup_last_semester(app, world):
    """Algebra I - Period 1 was last semester's; Nia sits in this semester's Period 2."""
    def change(files):
        for c in files["classes"]:
            if c["sourcedId"] == "cls-alg1":
                c["termSourcedIds"] = "term-past"
        files["enrollments"].append(_enrol("enr-nia-2", "cls-alg2", "stu-nia"))
    resync(app, world, change)


def setup_held(app, world):
    world["north"].deletion_threshold = 0.01
    world["north"].save()
    return resync(app, world, drop_user("stu-1"), status=None)  # waiting for review


CASES = [
    # (name, typed, setup, answer code, who can fix, words the teacher reads)
    ("not in the roster", "Ana Diaz", None, "not_in_roster", "district",
     ["Your district's SIS did not send anyone called Ana Diaz in last night's file"]),
    ("left the district, never in this class", "Zoe Other", setup_zoe_left, "not_in_roster",
     "district", ["did not send anyone called Zoe Other"]),
    ("in the roster, not in this class", "Zoe Other", None, "not_in_class", "district",
     ["Your district's file lists \u201cZoe Other\u201d as a student, but not in "
      "Algebra I - Period 1"]),
    ("removed from the roster", "stu2", setup_removed_user, "removed_from_roster", "district",
     ["Student2 Pupil is no longer in your district's roster", "file of {day}"]),
    ("enrollment removed", "Student2 Pupil", setup_removed_enrollment, "enrollment_removed",
     "district", ["Student2 Pupil's enrollment in Algebra I - Period 1 was removed by your "
                  "district's file of {day}"]),
    ("enrollment ended", "stu-2", setup_ended, "enrollment_ended", "district",
     [f"enrollment in Algebra I - Period 1 ended on {(TODAY - 3 * DAY).isoformat()}"]),
    ("enrollment starts", "stu-2", setup_starts, "enrollment_starts", "district",
     [f"enrollment in Algebra I - Period 1 starts on {(TODAY + 10 * DAY).isoformat()}"]),
    ("not signed in yet", "Student2", None, "not_signed_in", "support",
     ["Student2 Pupil is on this class's roster but has not signed in yet",
      "they join by opening the app from ClassLink"]),
    ("in the class and signed in", "stu2", setup_signed_in, "in_class", "support",
     ["Student2 Pupil is in Algebra I - Period 1 and has signed in"]),
    ("not added yet", "stu-2", setup_not_added, "not_yet_added", "nobody",
     ["is added to the class with the next sync"]),
    ("class archived", "stu-2", setup_archived, "class_archived", "district",
     ["Algebra I - Period 1 is archived", "Make sure your most recent classes have been imported"]),
    ("newer class not imported", "Nia New", setup_last_semester, "newer_class_not_imported",
     "teacher",
     ["is in one of your newer classes that you have not imported yet",
      "Make sure your most recent classes have been imported"]),
    ("file held for review", "Zoe Other", setup_held, "held_for_review", "support",
     ["is held for review: a change is waiting for the district", "but not in Algebra I"]),
    ("several students match", "Pupil", None, "several_match", "nobody",
     ["Student1 Pupil, Student2 Pupil, Student3 Pupil"]),
]


def ask_json(client, klass, typed):
    return client.get(f"/roster/api/classes/{klass.id}/why", query_string={"student": typed})


def ask_page(client, klass, typed):
    return client.get(f"/roster/classes/{klass.id}/why", query_string={"student": typed})


def page_text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


@pytest.mark.parametrize("name, typed, setup, code, fix_by, words", CASES,
                         ids=[c[0] for c in CASES])
def test_each_answer_through_the_page_and_the_json(app, client, world, name, typed, setup, code,
                                                   fix_by, words):
    run = setup(app, world) if setup else None
    day = run.started_at.date().isoformat() if run else None
    words = [w.format(day=day) for w in words]
    sign_in(client, world["ada"])

    body = ask_json(client, world["klass"], typed)
    assert body.status_code == 200, body.get_data(as_text=True)
    answer = body.get_json()
    assert (answer["answer"], answer["fixBy"], answer["student"]) == (code, fix_by, typed)
    for text in words:
        assert text in answer["text"]
    assert answer["reference"].startswith("Q-")
    if run is not None and code != "not_in_roster":
        assert answer["run"]["id"] == run.id

    page = ask_page(client, world["klass"], typed)
    assert page.status_code == 200
    shown = page_text(page)
    assert "Someone missing or wrong?" in shown
    for text in words:
        assert text in shown
    wants_import = code in ("class_archived", "newer_class_not_imported")
    assert ("Import your most recent classes" in shown) is wants_import
    assert (answer["importClasses"] is not None) is wants_import
    if fix_by != "nobody":
        assert "Message ready to send" in shown and "Copy message" in shown


def test_the_message_names_the_class_the_student_as_typed_the_roster_the_run_and_a_reference(
        app, client, world):
    run = setup_removed_enrollment(app, world)
    sign_in(client, world["ada"])
    answer = ask_json(client, world["klass"], "  Student2 Pupil ").get_json()
    message = answer["message"]
    assert "Class: Algebra I - Period 1 (cls-alg1)" in message
    assert "Student (as typed): Student2 Pupil" in message
    assert "What the roster says: Student2 Pupil's enrollment in Algebra I - Period 1" in message
    assert f"Sync run: {run.id} of {run.started_at.date().isoformat()}" in message
    assert f"Reference for support: {answer['reference']}" in message
    assert "OneRoster administrator" in answer["fixer"]
    page = page_text(ask_page(client, world["klass"], "Student2 Pupil"))
    assert "Reference for support: Q-" in page


def test_a_listed_student_not_signed_in_yet_can_be_picked(app, client, world):
    sign_in(client, world["ada"])
    roster = page_text(client.get(f"/roster/classes/{world['klass'].id}"))
    link = f"/roster/classes/{world['klass'].id}/why?student=stu-3#alr-why-answer"
    assert link in roster and "Ask why" in roster and "Student3 Pupil is not signed in" in roster
    picked = page_text(client.get(link.split("#")[0]))
    assert "Student3 Pupil is on this class's roster but has not signed in yet" in picked


OUTSIDERS = [
    # (who, typed, what must never show)
    ("a student of another class", "Zoe Other",
     ["Chemistry", "cls-chem", "Grace", "stu-zoe@north", "North High"]),
    ("a student of another school", "omar.private@mail.example.org",
     ["Art Studio", "cls-art", "South Middle", "sch-2", "Elsewhere"]),
    ("a student of another district", "sam@south.example.org",
     ["South District", "Southern", "stu-sam", "Sam"]),
]


@pytest.mark.parametrize("who, typed, secret", OUTSIDERS, ids=[o[0] for o in OUTSIDERS])
def test_about_someone_outside_the_class_a_teacher_learns_no_more_than_not_in_this_class(
        app, client, world, who, typed, secret):
    sign_in(client, world["ada"])
    answer = ask_json(client, world["klass"], typed).get_json()
    other_district = who.endswith("district")
    assert answer["answer"] == ("not_in_roster" if other_district else "not_in_class")
    assert answer["matches"] == [] and answer["run"] is None
    page = page_text(ask_page(client, world["klass"], typed))
    said = json.dumps(answer, ensure_ascii=False)
    for text in secret:
        assert text not in said, text
        assert text not in page.split("Someone missing or wrong?")[1], text
    kept = TeacherQuestion.select().order_by(TeacherQuestion.id.desc()).first()
    assert kept.student_sourced_id is None  # nobody outside the class is written down


def test_only_teachers_of_the_class_may_ask(app, client, world):
    klass = world["klass"]
    sign_in(client, account_for(world["north"], "stu-1", "student"))
    for response in (ask_json(client, klass, "stu-2"), ask_page(client, klass, "stu-2")):
        assert response.status_code == 403
        assert "Only the teachers of this class" in page_text(response)
    sign_in(client, account_for(world["north"], "tch-2", "teacher"))  # Grace: not her class
    assert ask_json(client, klass, "stu-2").status_code == 403
    assert ask_page(client, klass, "stu-2").status_code == 403
    south_teacher = account_for(world["south"], "tch-1", "teacher")
    sign_in(client, south_teacher)
    assert ask_json(client, klass, "stu-2").status_code == 404  # not a class South holds
    sign_in_with_token(client, None)  # signed out
    assert ask_json(client, klass, "stu-2").status_code == 401
    sign_in(client, world["ada"])
    assert ask_json(client, ImportedClass(id=999_999), "stu-2").status_code == 404
    assert TeacherQuestion.select().count() == 0  # refused questions are not kept


def test_an_empty_question_asks_for_a_name(app, client, world):
    sign_in(client, world["ada"])
    response = ask_json(client, world["klass"], "   ")
    assert response.status_code == 400 and response.get_json()["error"] == "student_missing"
    page = ask_page(client, world["klass"], "")
    assert page.status_code == 400
    assert "Type a student's name, username, e-mail or ID." in page_text(page)


def test_questions_are_rate_limited_per_teacher(app, client, world):
    app.config["AL_ROSTER_TEACHER_QUESTIONS"] = 3
    sign_in(client, world["ada"])
    for _ in range(3):
        assert ask_json(client, world["klass"], "stu-1").status_code == 200
    refused = ask_json(client, world["klass"], "stu-1")
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "600"
    assert "wait a few minutes" in refused.get_json()["message"]
    page = ask_page(client, world["klass"], "stu-1")
    assert page.status_code == 429 and "wait a few minutes" in page_text(page)
    # A colleague co-teaching is counted on their own.
    grace = account_for(world["north"], "tch-2", "teacher")
    Membership.create(imported_class=world["klass"], district_id=world["north"].id,
                      user_sourced_id="tch-2", role="teacher")
    sign_in(client, grace)
    assert ask_json(client, world["klass"], "stu-1").status_code == 200
    # An hour on, the window has passed.
    for question in TeacherQuestion.select():
        question.asked_at -= dt.timedelta(hours=1)
        question.save()
    sign_in(client, world["ada"])
    assert ask_json(client, world["klass"], "stu-1").status_code == 200


def test_the_host_app_hears_the_message_to_open_its_chat(app, client, world):
    heard = []

    @teacher_message_ready.connect_via(app)
    def open_chat(sender, account, class_id, reference, answer, fix_by, message, **extra):
        heard.append((account.id, class_id, reference, answer, fix_by, message))

    sign_in(client, world["ada"])
    answer = ask_json(client, world["klass"], "Zoe Other").get_json()
    assert heard == [(world["ada"].id, world["klass"].id, answer["reference"], "not_in_class",
                      "district", answer["message"])]


def test_support_sees_what_teachers_asked_this_week_grouped_by_answer(app, client, world):
    sign_in(client, world["ada"])
    asked = [ask_json(client, world["klass"], typed).get_json()
             for typed in ("Zoe Other", "Ana Diaz", "Nobody Known", "stu-1")]
    old = TeacherQuestion.get(TeacherQuestion.reference == asked[-1]["reference"])
    old.asked_at = old.asked_at - dt.timedelta(days=8)  # last week's: not in this week's list
    old.save()
    kept = TeacherQuestion.get(TeacherQuestion.reference == asked[0]["reference"])
    assert (kept.district_id, kept.imported_class_id, kept.teacher_id, kept.answer,
            kept.query) == (world["north"].id, world["klass"].id, world["ada"].id,
                            "not_in_class", "Zoe Other")

    staff = account(world["south"], "teacher", "staff-1", is_staff=True)
    sign_in_with_token(client, staff)
    data = client.get("/roster/api/admin/questions").get_json()
    assert "groups" in data, data
    assert [(g["district"], g["answer"], g["count"]) for g in data["groups"]] == [
        ("north", "not_in_roster", 2), ("north", "not_in_class", 1)]
    found = client.get("/roster/api/admin/questions",
                       query_string={"reference": asked[0]["reference"]}).get_json()
    assert found["question"]["query"] == "Zoe Other"
    assert found["question"]["teacherName"] == "Ada Lovelace"
    page = page_text(client.get("/roster/admin/questions",
                                query_string={"reference": asked[0]["reference"].lower()}))
    assert "Asked by teachers this week" in page
    assert "not_in_roster · north · 2 questions" in page
    assert f"Question {asked[0]['reference'].lower()}" in page and "Ada Lovelace" in page
    assert "/roster/admin/why?district=north&student=Zoe+Other&class=cls-alg1" in page

    # A district's own OneRoster admin sees their district only; a teacher none of it.
    south_admin = account(world["south"], "administrator", "adm-s")
    sign_in_with_token(client, south_admin)
    mine = client.get("/roster/api/admin/questions").get_json()
    assert mine.get("groups") == [], mine
    assert client.get("/roster/api/admin/questions", query_string={
        "reference": asked[0]["reference"]}).status_code == 404
    sign_in(client, world["ada"])
    assert client.get("/roster/api/admin/questions").status_code == 403


def test_kept_questions_go_with_their_teacher_and_with_a_purged_district(app, client, world):
    sign_in(client, world["ada"])
    ask_json(client, world["klass"], "stu-1")
    Account.delete().where(Account.id == world["ada"].id).execute()
    assert TeacherQuestion.select().count() == 0
    grace = account_for(world["north"], "tch-2", "teacher")
    Membership.create(imported_class=world["klass"], district_id=world["north"].id,
                      user_sourced_id="tch-2", role="teacher")
    sign_in(client, grace)
    ask_json(client, world["klass"], "stu-1")
    storage = app.extensions["al_roster"].sync_options.storage_dir
    report = purge_district(world["north"], storage, by="test")
    assert report.tables["teacher_question"] == 1
    assert TeacherQuestion.select().count() == 0
