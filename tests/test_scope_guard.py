"""The per-school and per-term guard weighs every school and term, and finds that nothing
trips by counting a school's enrollments only as far as its removals need: the same runs,
held or applied, as counting every enrollment of the district (SQLite and PostgreSQL)."""
from __future__ import annotations

import copy
import random

import pytest
from packages import write_package
from school_rosters import schools_district

from al_roster.models import Enrollment
from al_roster.models.runs import APPLIED, PARTIAL
from al_roster.services.districts import add_district
from al_roster.sync import guards
from al_roster.sync.runner import sync_package


@pytest.fixture
def district_of(app, tmp_path):
    options = app.extensions["al_roster"].sync_options
    steps = iter(range(1000))

    def make(slug, files):
        district = add_district(slug, slug.title(), plan="prime", rostering=True)

        def sync(night):
            return sync_package(district, write_package(tmp_path / f"p{next(steps)}", night),
                                options)
        assert sync(files).status == APPLIED
        return district, sync
    return make


def without_enrollments(files, gone) -> dict:
    out = copy.deepcopy(files)
    out["enrollments"] = [e for e in out["enrollments"] if e["sourcedId"] not in gone]
    return out


def enrollments_of(files, school, count=None, term="fall"):
    ids = [e["sourcedId"] for e in files["enrollments"]
           if e["schoolSourcedId"] == school and e["classSourcedId"].endswith(term)]
    return ids[:count] if count is not None else ids


def present(district, school):
    return Enrollment.select().where((Enrollment.district_id == district.id)
                                     & (Enrollment.school_sourced_id == school)
                                     & Enrollment.removed_run_id.is_null()).count()


def test_a_small_school_behind_fifty_schools_of_churn_is_held(district_of):
    """Fifty-five schools each drop seven of their 82 enrollments (9%, routine); a small
    school drops all six of its own. It has fewer removals than any of the others, so it is
    not among the fifty schools the reviewer's breakdown lists: it is weighed all the same."""
    files = schools_district(schools=56, students=40)
    few = {f"stu-56-{i}" for i in range(3, 41)}  # school 56 keeps two students: small
    files["users"] = [u for u in files["users"] if u["sourcedId"] not in few]
    files["enrollments"] = [e for e in files["enrollments"] if e["userSourcedId"] not in few]
    district, sync = district_of("churn", files)
    gone = {e for s in range(1, 56) for e in enrollments_of(files, f"sch-{s}", 7)}
    gone |= {e["sourcedId"] for e in files["enrollments"] if e["schoolSourcedId"] == "sch-56"}
    run = sync(without_enrollments(files, gone))
    assert run.status == PARTIAL
    assert "School 56 High: 6 of 6 enrollments would be removed" in run.message
    assert present(district, "sch-56") == 6
    assert present(district, "sch-7") == 82 - 7


@pytest.mark.parametrize("dropped, status", [(6, APPLIED), (7, PARTIAL)])
def test_a_school_at_exactly_its_share_applies_and_one_more_is_held(district_of, dropped,
                                                                     status):
    """24 enrollments a school (11 students and a teacher in two classes): 6 removed is
    exactly the 25% share, 7 is more."""
    files = schools_district(schools=8, students=11)
    district, sync = district_of("edge", files)
    gone = set(enrollments_of(files, "sch-3", dropped, term="fall")
               + enrollments_of(files, "sch-3", max(0, dropped - 12), term="spring"))
    run = sync(without_enrollments(files, gone))
    assert run.status == status
    assert present(district, "sch-3") == (24 - dropped if status == APPLIED else 24)


@pytest.mark.parametrize("seed", range(4))
def test_counting_as_far_as_removals_need_holds_what_counting_everything_holds(
        district_of, monkeypatch, seed):
    """Random removals across schools and terms, synced into two districts: one weighs them
    counting only as far as needed, the other counting every enrollment. Same outcome."""
    chance = random.Random(seed)
    files = schools_district(schools=12, students=chance.randint(3, 12))
    quick, quick_sync = district_of(f"quick{seed}", files)
    whole, whole_sync = district_of(f"whole{seed}", files)
    gone = [{e["sourcedId"] for e in files["enrollments"] if chance.random() < 0.02},
            set(enrollments_of(files, f"sch-{chance.randint(1, 12)}", chance.randint(4, 12)))]
    gone.append({e["sourcedId"] for e in files["enrollments"]
                 if chance.random() < chance.choice((0.05, 0.3))})
    nights = [without_enrollments(files, night) for night in gone]
    outcomes = {}
    for name, sync, everything in (("quick", quick_sync, False), ("whole", whole_sync, True)):
        if everything:
            monkeypatch.setattr(guards, "_may_trip", lambda *args: True)
        runs = [sync(night) for night in nights]
        outcomes[name] = [(run.status, run.message) for run in runs]
    assert outcomes["quick"] == outcomes["whole"]
    assert [status for status, _ in outcomes["quick"]][:2] == [APPLIED, PARTIAL]
