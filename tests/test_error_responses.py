"""One answer for every deliberate error: each family, asked by a browser, gets a page that
says what to do; asked by a JSON client, gets ``{"error": code, "message": text}`` (the
console's API: ``{"error": text, "code": code}``), with the same status either way."""
from __future__ import annotations

import logging

import pytest
from admin_helpers import roster_person
from rosters import account_for, sign_in

from al_roster.errors import RosterError
from al_roster.services.districts import add_district
from al_roster.services.drop_folder import DropRefused
from al_roster.services.provider_documents import ProviderUnavailable
from al_roster.web.lti_tool import LaunchReplayed, PlatformKeysUnavailable
from al_roster.web.sso import CallbackRejected

JSON = {"Accept": "application/json"}
HTML = {"Accept": "text/html"}


def page(response, status: int, *texts: str) -> None:
    assert response.status_code == status
    assert response.headers["Content-Type"].startswith("text/html")
    body = response.get_data(as_text=True)
    assert "<h1>" in body and "Traceback" not in body
    for text in texts:
        assert text in body, text


def json_error(response, status: int, code: str, text: str) -> None:
    assert response.status_code == status
    assert response.get_json() == {"error": code, "message": text}


@pytest.fixture
def teacher(app, client):
    district = add_district("north", "North", plan="prime", rostering=True)
    roster_person(district, "teacher", "tch-1")
    account = account_for(district, "tch-1", "teacher")
    sign_in(client, account)
    return account


def test_every_error_a_response_can_meet_is_a_roster_error():
    for error in (CallbackRejected, ProviderUnavailable, DropRefused, LaunchReplayed,
                  PlatformKeysUnavailable):
        assert issubclass(error, RosterError), error


def test_not_signed_in_page_and_json(client):
    page(client.get("/roster/classes", headers=HTML), 401, "Sign in first",
         "open this app from your ClassLink portal")
    json_error(client.get("/roster/api/importable-classes"), 401, "not_signed_in",
               "Sign in first: open this app from your ClassLink portal.")
    # A page asked for in JSON is answered in JSON.
    json_error(client.get("/roster/classes", headers=JSON), 401, "not_signed_in",
               "Sign in first: open this app from your ClassLink portal.")


def test_class_not_found_page_and_json(teacher, client):
    page(client.get("/roster/classes/99999", headers=HTML), 404, "Class not found",
         "There is no such class.")
    json_error(client.get("/roster/api/classes/99999"), 404, "class_not_found",
               "There is no such class.")


def test_console_refusal_page_and_json(teacher, client):
    page(client.get("/roster/admin/", headers=HTML), 403, "Not available",
         "The rostering console is for support staff")
    refused = client.get("/roster/api/admin/districts")
    assert refused.status_code == 403
    assert refused.get_json()["code"] == "refused"
    assert refused.get_json()["error"].startswith("The rostering console is for support staff")


def test_sign_in_not_set_up_page_and_json(app, client, caplog):
    caplog.set_level(logging.INFO, logger="al_roster")
    page(client.get("/roster/classlink/login", headers=HTML), 503,
         "ClassLink sign-in is not set up", "This site cannot sign you in with ClassLink yet.",
         "support team")
    json_error(client.get("/roster/classlink/login", headers=JSON), 503, "configuration_error",
               "This site cannot sign you in with ClassLink yet.")
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 2 and "AL_ROSTER_CLASSLINK_CLIENT_ID" in errors[0].getMessage()


def test_rejected_callback_page_and_json(app, client, caplog):
    app.config.update(AL_ROSTER_CLASSLINK_CLIENT_ID="id", AL_ROSTER_CLASSLINK_CLIENT_SECRET="s")
    caplog.set_level(logging.INFO, logger="al_roster")
    page(client.get("/roster/classlink/callback?error=denied", headers=HTML), 400,
         "Sign-in did not work", "ClassLink did not sign you in.")
    json_error(client.get("/roster/classlink/callback?error=denied", headers=JSON), 400,
               "callback_rejected", "ClassLink did not sign you in.")
    assert [r.getMessage() for r in caplog.records] == [
        "ClassLink sign-in rejected: provider error denied"] * 2


def test_provider_unavailable_page_and_json(app, client):
    app.config.update(AL_ROSTER_CLASSLINK_CLIENT_ID="id", AL_ROSTER_CLASSLINK_CLIENT_SECRET="s",
                      AL_ROSTER_CLASSLINK_SERVER_METADATA_URL="http://127.0.0.1:9/.well-known",
                      AL_ROSTER_HTTP_CONNECT_TIMEOUT=0.5)
    answer = client.get("/roster/classlink/login", headers=HTML)
    page(answer, 503, "ClassLink did not answer", "try again")
    assert answer.headers["Retry-After"] == "30"
    answer = client.get("/roster/classlink/login", headers=JSON)
    json_error(answer, 503, "provider_unavailable", "ClassLink did not answer; try again.")
    assert answer.headers["Retry-After"] == "30"


def test_lti_login_refused_page_and_json(app, client):
    args = {"iss": "https://unknown.example.org", "login_hint": "x",
            "target_link_uri": "http://localhost/roster/lti/launch"}
    page(client.get("/roster/lti/login", query_string=args, headers=HTML), 400,
         "This launch is not set up", "The app does not know the platform")
    json_error(client.get("/roster/lti/login", query_string=args, headers=JSON), 400,
               "lti_login_refused", "The app does not know the platform that sent you here.")
