"""al_roster.api as a host app calls it: classes, rosters, SIS-managed refusals, accounts."""
from __future__ import annotations

import pytest
from test_class_import import ada, grace, north  # noqa: F401  (fixtures)

from al_roster import api
from al_roster.models import Membership
from al_roster.services.class_import import import_classes


def test_a_teachers_classes_and_a_classs_roster(ada, grace):  # noqa: F811
    (algebra,) = import_classes(ada, ["cls-alg1"])
    (mine,) = api.classes_of(ada)
    assert (mine.id, mine.sourced_id, mine.status, mine.district, mine.role) == (
        algebra.id, "cls-alg1", "active", "north", "teacher")
    assert api.classes_of(grace) == [] and api.classes_of(None) == []
    roster = api.class_roster(algebra.id)
    assert roster.title == algebra.title
    assert [t.account_id for t in roster.teachers] == [ada.id]
    assert {s.sourced_id for s in roster.students} == {"stu-1", "stu-2", "stu-3"}
    assert all(s.account_id is None and s.role == "student" for s in roster.students)
    Membership.update(removed_at=Membership.added_at).where(
        (Membership.imported_class == algebra.id) & (Membership.user_sourced_id == "stu-1")
    ).execute()
    assert "stu-1" not in {s.sourced_id for s in api.class_roster(algebra.id).students}
    with pytest.raises(LookupError):
        api.class_roster(999_999)


def test_imported_classes_are_managed_by_the_sis(ada):  # noqa: F811
    (algebra,) = import_classes(ada, ["cls-alg1"])
    assert api.is_managed_by_sis(algebra.id) and not api.is_managed_by_sis(999_999)
    with pytest.raises(api.ManagedBySis, match="sign in through ClassLink to join") as refused:
        api.refuse_join_by_code(algebra.id)
    assert refused.value.code == "managed_by_sis"
    with pytest.raises(api.ManagedBySis, match="in your district's SIS"):
        api.refuse_roster_change(algebra.id)
    api.refuse_roster_change(999_999)  # the host's own class: nothing to refuse


def test_an_account_is_found_by_its_roster_identity(ada):  # noqa: F811
    assert api.find_account("north", "tch-1").id == ada.id
    assert api.find_account("south", "tch-1") is None
    assert api.find_account("north", "stu-1") is None  # never signed in
    assert api.account_of(ada) is ada
