"""Writing ``manifest.csv``: the one file every OneRoster CSV package must have.

Header ``propertyName,value``; ``manifest.version`` 1.0, ``oneroster.version``, then
``file.<name>`` for every file the version knows (:data:`.entities.KNOWN_FILES`): ``bulk``
or ``delta`` for those written, ``absent`` for the rest; optional ``source.*`` keys.
"""
from __future__ import annotations

import csv
import os
from collections.abc import Mapping

from al_roster.oneroster.entities import KNOWN_FILES


def manifest_rows(version: str, modes: Mapping[str, str], *, system_name: str | None = None,
                  system_code: str | None = None) -> list[tuple[str, str]]:
    """The manifest's rows, its header first; ``modes`` maps a file to bulk or delta."""
    rows = [("propertyName", "value"), ("manifest.version", "1.0"),
            ("oneroster.version", version)]
    rows += [(f"file.{name}", modes.get(name, "absent")) for name in KNOWN_FILES[version]]
    if system_name:
        rows.append(("source.systemName", system_name))
    if system_code:
        rows.append(("source.systemCode", system_code))
    return rows


def write_manifest(folder: str | os.PathLike, version: str, modes: Mapping[str, str], *,
                   system_name: str | None = None, system_code: str | None = None) -> None:
    rows = manifest_rows(version, modes, system_name=system_name, system_code=system_code)
    with open(os.path.join(folder, "manifest.csv"), "w", encoding="utf-8", newline="") as out:
        csv.writer(out).writerows(rows)
