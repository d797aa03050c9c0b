"""A small school for the class import and reconciliation tests, dated around a given day.

Terms: one that ended (past), one running (current), one not begun (upcoming). Ada (tch-1)
teaches two current classes, an upcoming one, a past one and, with Grace (tch-2), a co-taught
one; Grace also teaches a class of her own. Students stu-1 ... stu-N sit in Ada's classes.
"""
from __future__ import annotations

import datetime as dt

from flask import g, has_app_context

from al_roster.models import Account, District, RosterUser
from al_roster.services import sessions


def school(today: dt.date, students: int = 3) -> dict[str, list[dict]]:
    day = dt.timedelta(days=1)
    terms = [
        ("term-past", "Spring Past", today - 300 * day, today - 100 * day),
        ("term-now", "Fall Now", today - 60 * day, today + 60 * day),
        ("term-next", "Spring Next", today + 61 * day, today + 200 * day),
    ]
    classes = [  # sourcedId, title, course, term, periods, teachers
        ("cls-alg1", "Algebra I - Period 1", "crs-alg", "term-now", "1", ["tch-1"]),
        ("cls-alg2", "Algebra I - Period 2", "crs-alg", "term-now", "2", ["tch-1"]),
        ("cls-bio", "Biology - Period 3", "crs-bio", "term-next", "3", ["tch-1"]),
        ("cls-hist", "World History - Period 4", "crs-hist", "term-past", "4", ["tch-1"]),
        ("cls-co", "Geometry - Period 5", "crs-geo", "term-now", "5", ["tch-1", "tch-2"]),
        ("cls-chem", "Chemistry - Period 6", "crs-chem", "term-now", "6", ["tch-2"]),
    ]
    courses = {"crs-alg": "Algebra", "crs-bio": "Biology", "crs-hist": "World History",
               "crs-geo": "Geometry", "crs-chem": "Chemistry"}
    users = [_user("tch-1", "teacher", "Ada", "Lovelace"), _user("tch-2", "teacher", "Grace", "Hopper"),
             _user("aid-1", "aide", "Alan", "Turing")]
    users += [_user(f"stu-{i}", "student", f"Student{i}", "Pupil") for i in range(1, students + 1)]
    enrollments = []
    for sid, _title, _course, _term, _periods, teachers in classes:
        enrollments += [_enrollment(f"enr-{sid}-{t}", sid, t, "teacher") for t in teachers]
        if "tch-1" in teachers:
            enrollments += [_enrollment(f"enr-{sid}-stu-{i}", sid, f"stu-{i}", "student")
                            for i in range(1, students + 1)]
    return {
        "orgs": [dict(sourcedId="sch-1", name="North High", type="school")],
        "academicSessions": [dict(sourcedId=s, title=t, type="semester", startDate=b.isoformat(),
                                  endDate=e.isoformat(), schoolYear=str(e.year))
                             for s, t, b, e in terms],
        "courses": [dict(sourcedId=s, title=t, orgSourcedId="sch-1") for s, t in courses.items()],
        "classes": [dict(sourcedId=s, title=t, courseSourcedId=c, classType="scheduled",
                         schoolSourcedId="sch-1", termSourcedIds=term, periods=p)
                    for s, t, c, term, p, _ in classes],
        "users": users,
        "enrollments": enrollments,
    }


def _user(sourced_id: str, role: str, given: str, family: str) -> dict:
    return dict(sourcedId=sourced_id, enabledUser="true", orgSourcedIds="sch-1", role=role,
                username=sourced_id.replace("-", ""), givenName=given, familyName=family)


def _enrollment(sourced_id: str, class_id: str, user_id: str, role: str, **dates) -> dict:
    return dict(sourcedId=sourced_id, classSourcedId=class_id, schoolSourcedId="sch-1",
                userSourcedId=user_id, role=role, primary="true" if role == "teacher" else "false",
                **dates)


def account_for(district: District, sourced_id: str, role: str) -> Account:
    """The account first sign-in would make for a roster user."""
    user = RosterUser.get_or_none((RosterUser.district_id == district.id)
                                  & (RosterUser.sourced_id == sourced_id))
    names = {} if user is None else dict(given_name=user.given_name, family_name=user.family_name,
                                         email=user.email, username=user.username)
    return Account.create(district=district, sourced_id=sourced_id, role=role,
                          roster_admin=role == "administrator",
                          classlink_user_id=f"cl-{district.id}-{sourced_id}", **names)


def sign_in(client, account: Account) -> None:
    """Signs the test client in as the account, as a sign-in leaves the session."""
    with client.session_transaction() as session:
        session["_user_id"] = account.get_id()
        session["_fresh"] = True
        session[sessions.SESSION_KEY] = sessions.stamp(Account.get_by_id(account.id))
    if has_app_context():  # requests share the test's app context: forget who was signed in
        g.pop("_login_user", None)
