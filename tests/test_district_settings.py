"""A district's settings change through one service, whoever asks: the console, its JSON
and the command line only read what they were given. All of a change, or none of it."""
from __future__ import annotations

import pytest
from admin_helpers import CSRF, account, roster_person, sign_in

from al_roster.cli import cli
from al_roster.errors import AccessDenied
from al_roster.models import District
from al_roster.models.lti import LtiRegistration
from al_roster.services.districts import (
    OPERATOR,
    DistrictChanges,
    Editor,
    SourceChange,
    add_district,
    update_district,
)


@pytest.fixture
def east(app):
    return add_district("east", "East District", plan="prime", rostering=True)


def test_a_change_that_fails_anywhere_changes_nothing(east, client, tmp_path):
    drop = tmp_path / "drop"
    drop.mkdir()
    roster_person(east, "teacher", "staff-1")
    sign_in(client, account(east, "teacher", "staff-1", is_staff=True))
    answer = client.post("/roster/api/admin/districts", headers={"X-CSRF-Token": CSRF}, json={
        "slug": "east", "name": "East Unified", "sourceKind": "csv_drop",
        "csvDropDirectory": str(drop), "ltiIssuer": "https://lp.example", "ltiClientId": "t",
        "ltiDeploymentIds": "", "ltiAuthLoginUrl": "https://lp.example/a",
        "ltiAuthTokenUrl": "https://lp.example/t", "ltiKeySetUrl": "https://lp.example/k"})
    assert answer.status_code == 400 and "deployment" in answer.get_json()["error"]
    saved = District.get_by_id(east.id)
    assert (saved.name, saved.source_kind) == ("East District", "none")
    assert LtiRegistration.select().count() == 0


def test_only_staff_point_the_sync_somewhere(east, tmp_path):
    admin = Editor(staff=False, name="account 7 (east)")
    with pytest.raises(AccessDenied, match="source"):
        update_district(east, DistrictChanges(source=SourceChange("csv_drop",
                                                                  directory=str(tmp_path))),
                        by=admin)
    assert update_district(east, DistrictChanges(contacts="it@east.org"), by=admin).contacts \
        == "it@east.org"
    assert District.get_by_id(east.id).source_kind == "none"


def test_the_command_line_says_what_the_console_says(east, app, tmp_path):
    runner = app.test_cli_runner()
    missing = runner.invoke(cli, ["district", "source", "east", "--csv-drop",
                                  str(tmp_path / "nowhere")])
    assert missing.exit_code == 1 and "does not exist" in missing.output
    (tmp_path / "drop").mkdir()
    done = runner.invoke(cli, ["district", "source", "east", "--csv-drop", str(tmp_path / "drop")])
    assert done.exit_code == 0 and "CSV drop at" in done.output
    update_district(east, DistrictChanges(source=SourceChange("none")), by=OPERATOR)
    assert District.get_by_id(east.id).source_kind == "none"
