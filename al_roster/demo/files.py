"""Writing a generated package: CSV files with the headers the entities describe, the
manifest, and a byte-identical zip.
"""
from __future__ import annotations

import csv
import os
import shutil
import zipfile
from collections.abc import Iterable

from al_roster.oneroster.entities import (
    ENTITY_BY_NAME,
    VERSIONS,
    entities_for,
)
from al_roster.oneroster.manifest import write_manifest


def header(name: str, version: str) -> tuple[str, ...]:
    """The spec-ordered header row of one CSV file."""
    return ENTITY_BY_NAME[name].header(version)


def bulk_files(version: str) -> tuple[str, ...]:
    """The files a bulk package of ``version`` carries, in the order they are written: what is
    referenced before what refers to it."""
    return tuple(entity.name for entity in entities_for(version))


def check_version(version: str) -> None:
    if version not in VERSIONS:
        raise ValueError(f"OneRoster version {version!r} is not supported (1.1 or 1.2).")


def write_csv(path: str, columns: Iterable[str], batches: Iterable[Iterable[tuple]]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(columns)
        for batch in batches:
            writer.writerows(batch)


def write_zip(out_dir: str, names: Iterable[str], zip_path: str) -> None:
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in ["manifest", *names]:
            path = os.path.join(out_dir, f"{name}.csv")
            # A fixed timestamp keeps the zip byte-identical between runs; the known size
            # lets zipfile switch to zip64 for files over 2 GiB.
            info = zipfile.ZipInfo(f"{name}.csv", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type, info.external_attr = zipfile.ZIP_DEFLATED, 0o644 << 16
            info.file_size = os.path.getsize(path)
            with open(path, "rb") as src, zf.open(info, "w") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)



def write_package_manifest(out_dir, version: str, modes: dict[str, str], seed: int) -> None:
    write_manifest(out_dir, version, modes, system_name="al_roster district generator",
                   system_code=f"seed-{seed}")
