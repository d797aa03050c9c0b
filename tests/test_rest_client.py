"""The OneRoster REST source against a real API on loopback (tests/peers/oneroster_api.py)."""
from __future__ import annotations

import csv
import logging
import shutil
import socket
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
from authlib.integrations.requests_client import OAuth1Auth
from conftest import SAMPLES, need_samples

from al_roster.errors import SourceError
from al_roster.oneroster import oauth1_sha256
from al_roster.oneroster.rest import RestSource, format_since, pull_package
from al_roster.oneroster.rest_records import (
    ENROLLMENTS,
    USERS_V1P1,
    USERS_V1P2,
    record_to_row,
    role_rows,
)

try:
    from peers.oneroster_api import base_string_uri, serve_oneroster, signature_base_string
except ImportError:  # tests/ imported as a package
    from tests.peers.oneroster_api import base_string_uri, serve_oneroster, signature_base_string

ROSTER_HUB = SAMPLES / "roster-hub-1.1-bulk"
COUNTS = {"orgs": 1, "academicSessions": 4, "courses": 2, "classes": 5, "users": 20,
          "enrollments": 30}


def read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


def manifest(package: Path) -> dict[str, str]:
    return {row["propertyName"]: row["value"] for row in read_csv(package / "manifest.csv")[1]}


@pytest.fixture
def api():
    need_samples()
    with serve_oneroster(ROSTER_HUB, "1.1") as server:
        yield server


@pytest.fixture
def api_v1p2():
    need_samples()
    with serve_oneroster(ROSTER_HUB, "1.2") as server:
        yield server


@pytest.fixture
def sleeps() -> list[float]:
    return []


def pull(server, out: Path, sleeps: list[float] | None = None, *,
         since: datetime | None = None, **settings) -> dict:
    source = RestSource(**{**server.source_settings(), **settings})
    return pull_package(source, out, since=since,
                        sleep=(sleeps if sleeps is not None else []).append)


def assert_failed_cleanly(tmp_path: Path) -> None:
    """A failed pull leaves neither the package nor its staging folder behind."""
    assert list(tmp_path.iterdir()) == []


# -- complete pulls --------------------------------------------------------------------

@pytest.mark.samples
def test_v1p1_pull_reproduces_the_sample_package(api, tmp_path):
    summary = pull(api, tmp_path / "pkg")

    package = tmp_path / "pkg"
    for name, count in COUNTS.items():
        header, rows = read_csv(package / f"{name}.csv")
        sample_header, sample_rows = read_csv(ROSTER_HUB / f"{name}.csv")
        spec_columns = [c for c in sample_header if not c.startswith("metadata.")]
        assert header == spec_columns, name
        assert [{c: r[c] for c in spec_columns} for r in sample_rows] == rows, name
        assert len(rows) == summary["collections"][name]["rows"] == count
    modes = manifest(package)
    assert modes["oneroster.version"] == "1.1"
    assert {k for k, v in modes.items() if v == "bulk"} == {f"file.{n}" for n in COUNTS}
    assert modes["file.demographics"] == "absent"
    assert summary["mode"] == "bulk"
    assert all(r.auth == "OAuth" for r in api.requests)


def test_package_is_rfc4180_utf8_without_bom(api, tmp_path):
    pull(api, tmp_path / "pkg")

    raw = (tmp_path / "pkg" / "users.csv").read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf")
    assert raw.split(b"\r\n")[0].startswith(b"sourcedId,status,dateLastModified,enabledUser,")


def test_v1p2_pull_authenticates_with_oauth2_and_writes_roles(api_v1p2, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    summary = pull(api_v1p2, tmp_path / "pkg")

    package = tmp_path / "pkg"
    token_requests = api_v1p2.token_requests
    assert len(token_requests) == 1 and token_requests[0].auth == "Basic"
    assert {r.auth for r in api_v1p2.data_requests} == {"Bearer"}
    header, users = read_csv(package / "users.csv")
    assert header == ["sourcedId", "status", "dateLastModified",
                      *(name for name, _ in USERS_V1P2.columns)]
    assert "role" not in header and len(users) == 20
    assert users[0]["enabledUser"] == "true" and users[0]["primaryOrgSourcedId"] == "or0001"
    _, roles = read_csv(package / "roles.csv")
    assert len(roles) == summary["files"]["roles"] == 20
    assert roles[0] == {"sourcedId": "us0001.or0001.student", "status": "", "dateLastModified": "",
                        "userSourcedId": "us0001", "roleType": "primary", "role": "student",
                        "beginDate": "", "endDate": "", "orgSourcedId": "or0001",
                        "userProfileSourcedId": ""}
    _, enrollments = read_csv(package / "enrollments.csv")
    assert {e["primary"] for e in enrollments} == {"true", "false"}  # from JSON booleans
    modes = manifest(package)
    assert modes["oneroster.version"] == "1.2"
    assert modes["file.roles"] == "bulk" and modes["file.userProfiles"] == "absent"
    for secret in [api_v1p2.client_secret, *api_v1p2._tokens]:
        assert secret not in caplog.text


@pytest.mark.samples
def test_v1p2_token_is_fetched_again_when_it_expires(tmp_path):
    # authlib renews a token 60 s before it expires: a 30 s token is renewed before each use.
    with serve_oneroster(ROSTER_HUB, "1.2", token_lifetime=30) as server:
        pull(server, tmp_path / "pkg")
        assert len(server.token_requests) == len(server.data_requests) + 1
    assert (tmp_path / "pkg" / "manifest.csv").exists()


@pytest.mark.parametrize("page_size, max_limit, total, links", [
    (7, None, True, True),    # Link headers and X-Total-Count
    (7, 5, True, True),       # the server caps limit at 5 without saying so
    (7, None, False, True),   # Link headers only
    (7, None, True, False),   # X-Total-Count only
    (5, None, False, False),  # neither: stop at the first short page
])
@pytest.mark.samples
def test_paging_across_several_pages(tmp_path, page_size, max_limit, total, links):
    with serve_oneroster(ROSTER_HUB, max_limit=max_limit, send_total=total,
                         send_links=links) as server:
        summary = pull(server, tmp_path / "pkg", page_size=page_size)
        offsets = [r.query["offset"] for r in server.data_requests
                   if r.path.endswith("/enrollments")]

    step = max_limit or page_size
    assert summary["collections"]["enrollments"]["rows"] == 30
    # Without headers 30 rows of 5 end only at an empty page.
    expected = list(range(0, 30 if (total or links) else 31, step))
    assert offsets == [str(o) for o in expected]
    assert read_csv(tmp_path / "pkg" / "enrollments.csv")[1] == read_csv(
        ROSTER_HUB / "enrollments.csv")[1]


def test_delta_pull_sends_the_filter_and_writes_delta_rows(api, tmp_path):
    since = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    api.touch("users", "us0003", "2026-03-02T08:00:00.000Z")
    api.touch("users", "us0004", "2026-03-03T09:30:00.000Z", status="tobedeleted")
    api.touch("enrollments", "en0006", "2026-03-02T08:00:00.000Z")
    api.touch("users", "us0005", "2026-02-28T00:00:00.000Z")  # before since: not sent

    summary = pull(api, tmp_path / "pkg", since=since)

    assert {r.raw_query for r in api.data_requests if r.path.endswith("/users")} == {
        "limit=1000&offset=0&filter=dateLastModified%3E%272026-03-01T12%3A00%3A00.000Z%27"}
    assert summary["mode"] == "delta"
    _, users = read_csv(tmp_path / "pkg" / "users.csv")
    assert [(u["sourcedId"], u["status"], u["dateLastModified"]) for u in users] == [
        ("us0003", "active", "2026-03-02T08:00:00.000Z"),
        ("us0004", "tobedeleted", "2026-03-03T09:30:00.000Z")]
    assert [e["sourcedId"] for e in read_csv(tmp_path / "pkg" / "enrollments.csv")[1]] == [
        "en0006"]
    assert read_csv(tmp_path / "pkg" / "orgs.csv")[1] == []
    modes = manifest(tmp_path / "pkg")
    assert modes["file.users"] == modes["file.orgs"] == "delta"


def test_bulk_pull_leaves_out_records_the_server_marks_tobedeleted(api, tmp_path):
    api.touch("users", "us0007", "2026-03-02T08:00:00.000Z", status="tobedeleted")

    summary = pull(api, tmp_path / "pkg")

    assert summary["collections"]["users"] == {**summary["collections"]["users"],
                                               "rows": 19, "skipped": 1}
    assert "us0007" not in {u["sourcedId"] for u in read_csv(tmp_path / "pkg" / "users.csv")[1]}


@pytest.mark.samples
def test_a_collection_that_comes_back_empty_is_absent_not_an_empty_bulk_file(tmp_path):
    served = tmp_path / "served"
    shutil.copytree(ROSTER_HUB, served)
    header = (served / "enrollments.csv").read_text(encoding="utf-8").splitlines()[0]
    (served / "enrollments.csv").write_text(header + "\n", encoding="utf-8")
    with serve_oneroster(served, "1.1") as server:
        summary = pull(server, tmp_path / "pkg")
    assert summary["collections"]["enrollments"]["rows"] == 0
    assert not (tmp_path / "pkg" / "enrollments.csv").exists()
    assert manifest(tmp_path / "pkg")["file.enrollments"] == "absent"
    assert manifest(tmp_path / "pkg")["file.users"] == "bulk"


@pytest.mark.parametrize("since, expected", [
    (datetime(2026, 3, 1, 12, 0, 5, 123456, tzinfo=UTC), "2026-03-01T12:00:05.123Z"),
    (datetime(2026, 3, 1, 12, 0), "2026-03-01T12:00:00.000Z"),  # naive: taken as UTC
    (datetime.fromisoformat("2026-03-01T14:00:00+02:00"), "2026-03-01T12:00:00.000Z"),
])
def test_format_since(since, expected):
    assert format_since(since) == expected


# -- JSON to CSV, case by case ---------------------------------------------------------

@pytest.mark.parametrize("spec, record, delta, expected", [
    (USERS_V1P1, {"sourcedId": "u1", "status": "active", "dateLastModified": "2026-01-02T00:00:00.000Z",
                  "enabledUser": "true", "orgs": [{"sourcedId": "o1", "type": "org"},
                                                  {"sourcedId": "o2", "type": "org"}],
                  "role": "student", "username": "ann", "givenName": "Ann", "familyName": "Lee",
                  "userIds": [{"type": "LDAP", "identifier": "12"},
                              {"type": "LTI", "identifier": "15"}],
                  "agents": [{"sourcedId": "p1", "type": "user"}], "grades": ["09", "10"],
                  "password": "hunter2"},
     False,
     ["u1", "", "", "true", "o1,o2", "student", "ann", "{LDAP:12},{LTI:15}", "Ann", "Lee", "",
      "", "", "", "", "p1", "09,10", ""]),
    (USERS_V1P2, {"sourcedId": "u2", "status": "inactive", "dateLastModified": "2026-01-02T00:00:00.000Z",
                  "enabledUser": False, "givenName": "Bo", "familyName": "Kim",
                  "preferredFirstName": "Bobby", "preferredLastName": "K",
                  "primaryOrg": {"sourcedId": "o1"}, "grades": "11", "pronouns": "he/him"},
     True,
     ["u2", "tobedeleted", "2026-01-02T00:00:00.000Z", "false", "", "", "Bo", "Kim", "", "", "",
      "", "", "", "11", "", "", "Bobby", "", "K", "o1", "he/him"]),
    (ENROLLMENTS, {"sourcedId": "e1", "class": {"sourcedId": "c1"}, "school": "s1",
                   "user": {"sourcedId": "u1", "type": "user"}, "role": "teacher",
                   "primary": True},
     False, ["e1", "", "", "c1", "s1", "u1", "teacher", "true", "", ""]),
])
def test_record_to_row(spec, record, delta, expected):
    assert record_to_row(spec, record, delta=delta) == expected


def test_role_rows_from_a_v1p2_user():
    user = {"sourcedId": "u1", "roles": [
        {"roleType": "primary", "role": "teacher", "org": {"sourcedId": "s1"},
         "beginDate": "2026-08-01"},
        {"roleType": "secondary", "role": "counselor", "org": {"sourcedId": "s2"},
         "userProfile": "p9"}]}
    assert list(role_rows(user, ["u1", "active", "2026-01-01T00:00:00.000Z"])) == [
        ["u1.s1.teacher", "active", "2026-01-01T00:00:00.000Z", "u1", "primary", "teacher",
         "2026-08-01", "", "s1", ""],
        ["u1.s2.counselor", "active", "2026-01-01T00:00:00.000Z", "u1", "secondary",
         "counselor", "", "", "s2", "p9"]]


def test_a_value_without_csv_form_is_a_source_error(api, tmp_path):
    api.fail(1, status=200, body='{"orgs": [{"sourcedId": "o1", "name": {"en": "x"}}]}')

    with pytest.raises(SourceError, match=r"orgs record 'o1' has a value with no CSV form"):
        pull(api, tmp_path / "pkg")
    assert_failed_cleanly(tmp_path)


# -- authentication --------------------------------------------------------------------

@pytest.mark.samples
@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_wrong_secret_is_refused_clearly_and_leaves_no_package(tmp_path, sleeps, version):
    with serve_oneroster(ROSTER_HUB, version) as server:
        with pytest.raises(SourceError) as caught:
            pull(server, tmp_path / "pkg", sleeps, client_secret="not-the-secret")
        statuses = [r.status for r in server.requests]

    message = str(caught.value)
    assert "refused the credentials" in message and server.client_id in message
    assert "not-the-secret" not in message and server.client_secret not in message
    assert statuses == [401] and sleeps == []  # refused credentials are not retried
    assert not caught.value.passing  # nor is the job: someone must fix the credentials
    assert_failed_cleanly(tmp_path)


def test_403_means_no_access_and_is_not_retried(api, tmp_path, sleeps):
    api.fail_all(status=403)

    with pytest.raises(SourceError, match="refused the credentials.*granted this application"):
        pull(api, tmp_path / "pkg", sleeps)
    assert sleeps == [] and len(api.requests) == 1


def test_the_server_checks_the_signature_itself(api):
    oauth1_sha256.register()
    auth = OAuth1Auth(api.client_id, api.client_secret,
                      signature_method=oauth1_sha256.SIGNATURE_HMAC_SHA256)
    url = f"{api.base_url}/ims/oneroster/v1p1/users?limit=5&offset=0"
    with requests.Session() as session:
        signed = session.prepare_request(requests.Request("GET", url, auth=auth))
        assert session.send(signed).status_code == 200
        assert session.send(signed).status_code == 401  # the same nonce again
        tampered = session.prepare_request(requests.Request("GET", url, auth=auth))
        tampered.url = tampered.url.replace("offset=0", "offset=5")
        assert session.send(tampered).status_code == 401
        assert session.get(url).status_code == 401  # unsigned


def test_signature_base_string_follows_rfc5849_example():
    # RFC 5849 section 3.4.1.1: the example request and the base string it prints.
    query = [("b5", "=%3D"), ("a3", "a"), ("c@", ""), ("a2", "r b")]
    body = [("c2", ""), ("a3", "2 q")]
    oauth = [("oauth_consumer_key", "9djdj82h48djs9d2"), ("oauth_token", "kkk9d7dh3k39sjv7"),
             ("oauth_signature_method", "HMAC-SHA1"), ("oauth_timestamp", "137131201"),
             ("oauth_nonce", "7d8f3e4a"), ("oauth_signature", "djosJKDKJSD8743243%2Fjdk33klY%3D")]
    assert signature_base_string(
        "POST", base_string_uri("http", "Example.com:80", "/request"), query + body + oauth) == (
        "POST&http%3A%2F%2Fexample.com%2Frequest&a2%3Dr%2520b%26a3%3D2%2520q"
        "%26a3%3Da%26b5%3D%253D%25253D%26c%2540%3D%26c2%3D%26oauth_consumer_"
        "key%3D9djdj82h48djs9d2%26oauth_nonce%3D7d8f3e4a%26oauth_signature_m"
        "ethod%3DHMAC-SHA1%26oauth_timestamp%3D137131201%26oauth_token%3Dkkk"
        "9d7dh3k39sjv7")


# -- faults ----------------------------------------------------------------------------

def test_server_errors_are_retried_with_backoff(api, tmp_path, sleeps, caplog):
    api.fail(5, 6, status=500)  # classes, twice
    caplog.set_level(logging.DEBUG)

    summary = pull(api, tmp_path / "pkg", sleeps)

    assert sleeps == [1.0, 2.0]
    assert summary["collections"]["classes"]["rows"] == 5
    assert api.client_secret not in caplog.text
    for path in (tmp_path / "pkg").iterdir():
        assert api.client_secret not in path.read_text()


def test_persistent_server_error_fails_after_max_attempts(api, tmp_path, sleeps):
    api.fail_all(status=503)

    with pytest.raises(SourceError) as caught:
        pull(api, tmp_path / "pkg", sleeps, max_attempts=5)

    assert str(caught.value) == ("GET /ims/oneroster/v1p1/orgs?limit=1000&offset=0 failed "
                                 "after 5 attempts: HTTP 503")
    assert sleeps == [1.0, 2.0, 4.0, 8.0] and len(api.requests) == 5
    assert_failed_cleanly(tmp_path)


def test_a_slow_answer_times_out_and_is_retried(api, tmp_path, sleeps):
    api.slow(1, seconds=1.0)

    pull(api, tmp_path / "pkg", sleeps, timeout=0.25)

    assert sleeps == [1.0]
    assert (tmp_path / "pkg" / "manifest.csv").exists()


def test_a_server_that_never_answers_in_time_fails(api, tmp_path, sleeps):
    api.slow(1, 2, seconds=1.0)

    with pytest.raises(SourceError, match=r"orgs\?limit=1000&offset=0 failed after 2 attempts: "
                                          r"no answer within 0.25 s"):
        pull(api, tmp_path / "pkg", sleeps, timeout=0.25, max_attempts=2)
    assert_failed_cleanly(tmp_path)


def test_429_retry_after_is_honoured(api, tmp_path, sleeps):
    api.fail(3, status=429, retry_after="7")

    pull(api, tmp_path / "pkg", sleeps)

    assert sleeps == [7.0]
    assert [r.status for r in api.requests[:4]] == [200, 200, 429, 200]


def test_a_retry_after_beyond_reason_fails_at_once(api, tmp_path, sleeps):
    api.fail(1, status=503, retry_after="3600")

    with pytest.raises(SourceError, match="come back in 3600 s") as caught:
        pull(api, tmp_path / "pkg", sleeps)
    assert sleeps == []
    assert caught.value.passing  # the nightly job tries again later


@pytest.mark.parametrize("status, keep, total, message", [
    (404, 0, True, r"GET /ims/oneroster/v1p1/users\?limit=7&offset=7 returned HTTP 404"),
    (None, 0, True, r"users\?limit=7&offset=7 returned no users after 7, yet X-Total-Count "
                    r"\(20\) says there are more"),
    (None, 3, True, r"users\?limit=7&offset=7 returned 3 users where pages hold 7"),
    (None, 3, False, r"returned 3 users where pages hold 7, yet the Link header says"),
])
@pytest.mark.samples
def test_a_missing_page_fails_the_pull(tmp_path, status, keep, total, message):
    with serve_oneroster(ROSTER_HUB, send_total=total) as server:
        server.drop_page("users", 7, status=status, keep=keep)
        with pytest.raises(SourceError, match=message):
            pull(server, tmp_path / "pkg", page_size=7)
    assert_failed_cleanly(tmp_path)


@pytest.mark.samples
def test_a_short_last_page_fails_when_x_total_count_says_more(tmp_path):
    with serve_oneroster(ROSTER_HUB, send_links=False) as server:
        server.drop_page("enrollments", 28, status=None, keep=1)
        with pytest.raises(SourceError, match=r"offset=28 returned 1 enrollments where pages "
                                              r"hold 7, yet X-Total-Count \(30\)"):
            pull(server, tmp_path / "pkg", page_size=7)
    assert_failed_cleanly(tmp_path)


def test_bad_json_is_a_source_error(api, tmp_path, sleeps):
    api.fail(2, status=200, body="<html>Gateway says hello</html>")

    with pytest.raises(SourceError, match=r"academicSessions\?limit=1000&offset=0 did not "
                                          "return JSON: <html>Gateway says hello</html>"):
        pull(api, tmp_path / "pkg", sleeps)
    assert sleeps == []
    assert_failed_cleanly(tmp_path)


def test_token_endpoint_outage_is_retried(api_v1p2, tmp_path, sleeps):
    api_v1p2.fail_token(1, status=503, retry_after="2")

    pull(api_v1p2, tmp_path / "pkg", sleeps)

    assert sleeps == [2.0]
    assert [r.status for r in api_v1p2.token_requests] == [503, 200]


def test_connection_refused_is_retried_then_reported(tmp_path, sleeps):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    source = RestSource(f"http://127.0.0.1:{port}", "1.1", "id", "secret", max_attempts=3,
                        allowed_hosts=("127.0.0.1",))

    with pytest.raises(SourceError, match="orgs.*failed after 3 attempts: connection failed"):
        pull_package(source, tmp_path / "pkg", sleep=sleeps.append)
    assert sleeps == [1.0, 2.0]
    assert_failed_cleanly(tmp_path)


# -- refused before any request -----------------------------------------------------------

def test_plain_http_is_refused_off_loopback(tmp_path):
    source = RestSource("http://district.example.com", "1.1", "id", "secret")
    with pytest.raises(SourceError, match="not an https address"):
        pull_package(source, tmp_path / "pkg")


def test_an_existing_package_is_not_overwritten(api, tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "manifest.csv").write_text("propertyName,value\r\n")

    with pytest.raises(SourceError, match="already exists"):
        pull(api, tmp_path / "pkg")
    assert api.requests == []


def test_the_secret_stays_out_of_repr():
    source = RestSource("https://x.example.com", "1.2", "id", "s3cret")
    assert "s3cret" not in repr(source)
    assert source.api_root == "https://x.example.com/ims/oneroster/rostering/v1p2"
    assert source.token_endpoint == "https://x.example.com/token"


# -- a generated district, both versions ---------------------------------------------------

@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_a_generated_district_round_trips_and_opens_as_a_package(tmp_path, version):
    from al_roster.demo.generator import generate_district
    from al_roster.oneroster.package import CsvPackage

    counts = generate_district(tmp_path / "district", 300, seed=3, version=version)
    with serve_oneroster(tmp_path / "district", version) as server:
        summary = pull(server, tmp_path / "pulled", page_size=250)

    assert summary["files"] == {k: v for k, v in counts.items() if k != "total"}
    for name in summary["files"]:
        header, rows = read_csv(tmp_path / "pulled" / f"{name}.csv")
        sample_header, sample_rows = read_csv(tmp_path / "district" / f"{name}.csv")
        assert header == sample_header, name
        if name == "roles":  # REST roles carry no sourcedId: ours are derived, not the CSV's
            rows = [{**r, "sourcedId": ""} for r in rows]
            sample_rows = [{**r, "sourcedId": ""} for r in sample_rows]
        assert rows == [{**r, "password": ""} if "password" in r else r for r in sample_rows], name
    with CsvPackage(tmp_path / "pulled") as package:
        assert package.version == version
        assert {e.name: mode for e, mode in package.entities()} == dict.fromkeys(
            summary["files"], "bulk")
        assert package.issues.items == []
