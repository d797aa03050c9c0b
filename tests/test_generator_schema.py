"""What the generator writes is what the entities describe, and what the sync's reader reads
without a word: for both versions, bulk and delta, every file's header is the entity's, the
package holds exactly the entities of its version, and every row parses with no issue."""
from __future__ import annotations

import datetime

import pytest

from al_roster.demo.generator import generate_delta, generate_district
from al_roster.oneroster.entities import entities_for
from al_roster.oneroster.package import CsvPackage
from al_roster.oneroster.rows import FileReader

TODAY = datetime.date(2026, 11, 20)


def read_back(path) -> tuple[CsvPackage, dict[str, int]]:
    """The package read file by file through the sync's reader: rows read per file."""
    rows = {}
    with CsvPackage(path) as package:
        for entity, mode in package.entities():
            reader = FileReader(entity, package.version, mode, package.issues)
            rows[entity.name] = sum(1 for _ in reader.read(package.text_lines(entity.file_name)))
            with open(path / entity.file_name, encoding="utf-8") as f:
                assert f.readline().rstrip("\r\n").split(",") == list(entity.header(
                    package.version)), entity.name
    return package, rows


@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_bulk_package_is_the_entities_and_reads_clean(tmp_path, version):
    counts = generate_district(tmp_path, 900, seed=2, version=version, today=TODAY)
    package, rows = read_back(tmp_path)
    assert package.version == version
    assert list(rows) == [entity.name for entity in entities_for(version)]
    assert set(package.modes.values()) == {"bulk"}
    assert (package.issues.error_count, package.issues.warning_count) == (0, 0), [
        i.message for i in package.issues.items]
    assert rows == {name: n for name, n in counts.items() if name != "total"}


@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_delta_package_is_the_entities_and_reads_clean(tmp_path, version):
    counts = generate_delta(900, tmp_path, 120, seed=2, version=version,
                            today=TODAY + datetime.timedelta(days=1))
    package, rows = read_back(tmp_path)
    assert {name for name, mode in package.modes.items() if mode == "delta"} == {
        "users", "enrollments"}
    assert (package.issues.error_count, package.issues.warning_count) == (0, 0), [
        i.message for i in package.issues.items]
    assert rows == {name: n for name, n in counts.items() if name != "total"}
