"""Attack: a district admin uses "why is X not in class Y" as an oracle for other districts.

North's OneRoster admin asks about an e-mail and a sourcedId that only South's roster has.
The answer (JSON and page) must be exactly the one for a person who exists nowhere: not
South's name or slug, not "another district", nothing that tells the two apart. Support
staff, who see every district, keep the hint.
"""
from __future__ import annotations

import pytest
from admin_helpers import account, sign_in, two_districts

from al_roster.models import RosterUser

SOUTH_EMAIL = "only-south@example.org"
SOUTH_ID = "south-only-7"


@pytest.fixture
def world(app, tmp_path):
    north, south, _, _ = two_districts(tmp_path, console_people=True)
    RosterUser.update(email=SOUTH_EMAIL).where(
        (RosterUser.district_id == south.id) & (RosterUser.sourced_id == "stu-3")).execute()
    RosterUser.update(sourced_id=SOUTH_ID).where(
        (RosterUser.district_id == south.id) & (RosterUser.sourced_id == "stu-2")).execute()
    return dict(north=north, south=south, admin=account(north, "administrator", "adm-1"),
                staff=account(south, "teacher", "staff-1", is_staff=True))


def ask(client, student, *, page=False):
    url = "/roster/admin/why" if page else "/roster/api/admin/why"
    answer = client.get(url, query_string={"district": "north", "student": student,
                                           "class": "cls-1"})
    assert answer.status_code == 200
    if page:
        return answer.get_data(as_text=True).replace(student, "<asked>")
    data = answer.get_json()
    return {k: (v.replace(student, "<asked>") if isinstance(v, str) else v)
            for k, v in data.items()}


@pytest.mark.parametrize("who", [SOUTH_EMAIL, SOUTH_ID, SOUTH_EMAIL.upper()])
def test_district_admin_cannot_tell_another_districts_person_from_nobody(world, client, who):
    sign_in(client, world["admin"])
    for page in (False, True):
        nobody = ask(client, "nobody-at-all@example.org" if "@" in who else "no-such-id-7",
                     page=page)
        asked = ask(client, who, page=page)
        assert asked == nobody
        text = str(asked)
        assert "South" not in text and "south" not in text and "another district" not in text
    assert ask(client, who)["reason"] == "not_in_roster"


def test_staff_still_hear_which_district_has_them(world, client):
    sign_in(client, world["staff"])
    answer = ask(client, SOUTH_EMAIL)
    assert answer["reason"] == "different_district"
    assert "South District" in answer["answer"] and answer["otherDistrict"] == "south"
