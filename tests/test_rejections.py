"""A bad package is rejected whole, with a clear message, and changes nothing."""
from __future__ import annotations

import io
import zipfile

import pytest
from packages import small_district, write_package

from al_roster.models import RosterUser
from al_roster.services.districts import add_district, roster_counts
from al_roster.sync.runner import sync_package


@pytest.fixture
def loaded(app, tmp_path):
    district = add_district("north", "North District")
    run = sync_package(district, write_package(tmp_path / "good", small_district()),
                       app.extensions["al_roster"].sync_options)
    assert run.status == "applied"
    return district


def reject(app, district, path):
    before = roster_counts(district)
    run = sync_package(district, path, app.extensions["al_roster"].sync_options)
    assert run.status == "rejected", run.message
    assert roster_counts(district) == before
    return run


def zip_of(tmp_path, members: dict[str, bytes], name="p.zip"):
    path = tmp_path / name
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for member, data in members.items():
            archive.writestr(member, data)
    return path


def test_not_a_zip(app, loaded, tmp_path):
    path = tmp_path / "roster.zip"
    path.write_text("sourcedId,name\n")
    run = reject(app, loaded, path)
    assert "neither a zip file nor a folder" in run.message


def test_missing_path(app, loaded, tmp_path):
    assert "does not exist" in reject(app, loaded, tmp_path / "nope.zip").message


def test_no_manifest(app, loaded, tmp_path):
    run = reject(app, loaded, zip_of(tmp_path, {"users.csv": b"sourcedId\n"}))
    assert "no manifest.csv" in run.message


def test_unsupported_version(app, loaded, tmp_path):
    manifest = b"propertyName,value\nmanifest.version,1.0\noneroster.version,1.0\n"
    run = reject(app, loaded, zip_of(tmp_path, {"manifest.csv": manifest}))
    assert "version '1.0'" in run.message and "1.1 and 1.2" in run.message


def test_missing_required_column(app, loaded, tmp_path):
    files = small_district()
    folder = write_package(tmp_path / "p", files)
    text = (folder / "users.csv").read_text().replace("givenName", "firstName")
    (folder / "users.csv").write_text(text)
    run = reject(app, loaded, folder)
    issue = next(i for i in run.issues if i.severity == "error")
    assert (issue.file, issue.line, issue.field) == ("users.csv", 1, "givenName")


def test_header_differing_by_case(app, loaded, tmp_path):
    folder = write_package(tmp_path / "p", small_district())
    text = (folder / "users.csv").read_text().replace("sourcedId", "SourcedId", 1)
    (folder / "users.csv").write_text(text)
    run = reject(app, loaded, folder)
    assert "'SourcedId' where OneRoster expects 'sourcedId'" in run.message


def test_file_named_in_manifest_but_missing(app, loaded, tmp_path):
    folder = write_package(tmp_path / "p", small_district())
    (folder / "enrollments.csv").unlink()
    assert "no enrollments.csv" in reject(app, loaded, folder).message


def test_not_utf8(app, loaded, tmp_path):
    folder = write_package(tmp_path / "p", small_district())
    data = (folder / "users.csv").read_bytes().replace(b"Ada", "Adé".encode("latin-1"))
    (folder / "users.csv").write_bytes(data)
    run = reject(app, loaded, folder)
    assert "not UTF-8" in run.message and "line 2" in run.message


def test_bom_and_crlf_are_fine(app, loaded, tmp_path):
    folder = write_package(tmp_path / "p", small_district())
    text = (folder / "users.csv").read_text().replace("\n", "\r\n")
    (folder / "users.csv").write_bytes(b"\xef\xbb\xbf" + text.encode())
    run = sync_package(loaded, folder, app.extensions["al_roster"].sync_options)
    assert run.status == "applied" and run.error_count == 0


@pytest.mark.parametrize("member", ["../evil.csv", "/etc/passwd", "a/../../b.csv"])
def test_path_traversal(app, loaded, tmp_path, member):
    manifest = b"propertyName,value\noneroster.version,1.1\n"
    run = reject(app, loaded, zip_of(tmp_path, {"manifest.csv": manifest, member: b"x"}))
    assert "points outside the package" in run.message


def test_zip_bomb(app, loaded, tmp_path):
    manifest = b"propertyName,value\noneroster.version,1.1\nfile.users,bulk\n"
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("manifest.csv", manifest)
        archive.writestr("users.csv", b"\0" * (64 * 1024 * 1024))
    path = tmp_path / "bomb.zip"
    path.write_bytes(bomb.getvalue())
    run = reject(app, loaded, path)
    assert "zip bomb" in run.message


def test_rejected_run_left_the_roster_exactly_as_before(app, loaded, tmp_path):
    folder = write_package(tmp_path / "p", small_district())
    (folder / "classes.csv").write_text("nonsense\n")
    reject(app, loaded, folder)
    assert RosterUser.select().count() == 5
