"""Opening a OneRoster CSV package: a zip or a folder, its manifest and its files.

OneRoster 1.1/1.2 CSV binding: ``manifest.csv`` is the one required file; it names the
OneRoster version and, per file, ``bulk``, ``delta`` or ``absent``. Anything that makes the
package as a whole unusable raises :class:`~al_roster.errors.PackageRejected`, so the caller
changes nothing. Zip members are streamed, never extracted: no path ever touches the disk.
"""
from __future__ import annotations

import csv
import hashlib
import io
import os
import posixpath
import zipfile
from collections.abc import Iterator
from pathlib import Path

from ..errors import PackageRejected
from .entities import ENTITIES, KNOWN_FILES, VERSIONS, Entity, entities_for
from .issues import IssueLog

MODES = ("bulk", "delta", "absent")
MANIFEST = "manifest.csv"
#: A zip member may not inflate beyond this many times its compressed size.
MAX_COMPRESSION_RATIO = 1000
DEFAULT_MAX_BYTES = 20 * 1024**3


class _CountingReader(io.RawIOBase):
    """Reads a zip member and stops a zip bomb that lies about its size."""

    def __init__(self, raw, name: str, limit: int):
        self.raw, self.name, self.limit, self.seen = raw, name, limit, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self.raw.read(len(buffer))
        self.seen += len(data)
        if self.seen > self.limit:
            raise PackageRejected(
                f"{self.name} inflates beyond {self.limit:,} bytes: the zip looks like a "
                "zip bomb and was not read.", file=self.name)
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self.raw.close()
        super().close()


def _decoded_lines(raw, file_name: str) -> Iterator[str]:
    """UTF-8 lines (a leading BOM dropped); a bad byte rejects the file naming its line."""
    for number, line in enumerate(raw, start=1):
        if number == 1 and line.startswith(b"\xef\xbb\xbf"):
            line = line[3:]
        try:
            yield line.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise PackageRejected(
                f"{file_name} is not UTF-8 text (byte 0x{line[exc.start]:02X} on line {number}); "
                "export it as UTF-8 (a BOM is fine).",
                file=file_name, line=number, reason="encoding") from exc


class CsvPackage:
    """An open OneRoster package. Use as a context manager."""

    def __init__(self, path: str | os.PathLike, *, max_bytes: int = DEFAULT_MAX_BYTES):
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.issues = IssueLog()
        self._zip: zipfile.ZipFile | None = None
        self._members: dict[str, str] = {}  # lower-case file name -> member name or path
        self._open_source()
        self.version, self.modes, self.source_system = self._read_manifest()

    # -- opening -------------------------------------------------------------------------
    def _open_source(self) -> None:
        if self.path.is_dir():
            self._members = {p.name.lower(): str(p) for p in self.path.iterdir() if p.is_file()}
        elif self.path.is_file():
            if not zipfile.is_zipfile(self.path):
                raise PackageRejected(
                    f"{self.path.name} is neither a zip file nor a folder of OneRoster CSV "
                    "files.", file=self.path.name)
            try:
                self._zip = zipfile.ZipFile(self.path)
            except (zipfile.BadZipFile, OSError) as exc:
                raise PackageRejected(f"{self.path.name} is a damaged zip file: {exc}.",
                                      file=self.path.name) from exc
            self._members = self._safe_zip_members(self._zip)
        else:
            raise PackageRejected(f"{self.path} does not exist.", file=str(self.path))
        if MANIFEST not in self._members:
            raise PackageRejected(
                "The package has no manifest.csv, which OneRoster requires; it names the "
                "version and whether each file is bulk or delta.", file=MANIFEST)

    def _safe_zip_members(self, archive: zipfile.ZipFile) -> dict[str, str]:
        infos = archive.infolist()
        total = sum(i.file_size for i in infos)
        if total > self.max_bytes:
            raise PackageRejected(
                f"The zip would inflate to {total:,} bytes, more than the {self.max_bytes:,} "
                "allowed: it was not read.", file=self.path.name)
        members: dict[str, str] = {}
        manifests = [i.filename for i in infos if posixpath.basename(i.filename).lower() == MANIFEST]
        root = posixpath.dirname(manifests[0]) if len(manifests) == 1 else ""
        for info in infos:
            name = info.filename
            parts = name.replace("\\", "/").split("/")
            if name.startswith(("/", "\\")) or ".." in parts or ":" in parts[0]:
                raise PackageRejected(
                    f"The zip entry '{name}' points outside the package (path traversal); "
                    "the package was not read.", file=name)
            if info.is_dir() or posixpath.dirname(name) != root:
                continue
            if info.compress_size and info.file_size / info.compress_size > MAX_COMPRESSION_RATIO \
                    and info.file_size > 10 * 1024**2:
                raise PackageRejected(
                    f"{name} inflates {info.file_size // info.compress_size}-fold: the zip "
                    "looks like a zip bomb and was not read.", file=name)
            members[posixpath.basename(name).lower()] = name
        return members

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()

    def __enter__(self) -> CsvPackage:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- files ---------------------------------------------------------------------------
    def has_file(self, file_name: str) -> bool:
        return file_name.lower() in self._members

    def member_name(self, file_name: str) -> str:
        """The file's own name in the package (its case may differ from the spec's)."""
        return os.path.basename(self._members[file_name.lower()])

    def open_binary(self, file_name: str) -> io.BufferedIOBase:
        member = self._members[file_name.lower()]
        if self._zip is None:
            return open(member, "rb")
        info = self._zip.getinfo(member)
        limit = min(self.max_bytes, max(info.file_size, 1))
        return io.BufferedReader(_CountingReader(self._zip.open(member), file_name, limit))

    def digest(self, file_name: str) -> str:
        """A digest of the file's bytes: equal digests, identical files."""
        hasher = hashlib.blake2b(digest_size=16)
        with self.open_binary(file_name) as raw:
            while block := raw.read(1 << 20):
                hasher.update(block)
        return hasher.hexdigest()

    def text_lines(self, file_name: str) -> Iterator[str]:
        """The file's lines as text; a file that is not UTF-8 rejects the package."""
        with self.open_binary(file_name) as raw:
            yield from _decoded_lines(raw, file_name)

    def csv_rows(self, file_name: str) -> Iterator[list[str]]:
        """The file's rows; a file that is not UTF-8 or not CSV rejects the package."""
        reader = csv.reader(self.text_lines(file_name), strict=False)
        try:
            yield from reader
        except csv.Error as exc:
            raise PackageRejected(
                f"{file_name} line {reader.line_num}: not valid CSV ({exc}).",
                file=file_name, line=reader.line_num) from exc

    # -- manifest ------------------------------------------------------------------------
    def _read_manifest(self) -> tuple[str, dict[str, str], str | None]:
        props = self._manifest_properties()
        version = props.get("oneroster.version", "").strip()
        if version not in VERSIONS:
            shown = f"'{version}'" if version else "nothing"
            raise PackageRejected(
                f"manifest.csv names OneRoster version {shown}; supported versions are "
                f"{' and '.join(VERSIONS)}.", file=MANIFEST, field="oneroster.version")
        if props.get("manifest.version", "1.0").strip() != "1.0":
            self.issues.warning(MANIFEST, None, "manifest.version",
                                f"manifest.version is '{props['manifest.version']}'; read as 1.0.")
        modes = self._file_modes(props, version)
        self._check_files_present(modes, version)
        return version, modes, props.get("source.systemName") or None

    def _manifest_properties(self) -> dict[str, str]:
        rows = iter(self.csv_rows(MANIFEST))
        header = [h.strip() for h in next(rows, [])]
        if header[:2] != ["propertyName", "value"]:
            raise PackageRejected(
                "manifest.csv must start with the header 'propertyName,value'.",
                file=MANIFEST, line=1)
        props: dict[str, str] = {}
        for line, row in enumerate(rows, start=2):
            if not row or not row[0].strip():
                continue
            key, value = row[0].strip(), (row[1].strip() if len(row) > 1 else "")
            if key in props:
                self.issues.warning(MANIFEST, line, key, f"'{key}' appears twice; the first is used.")
                continue
            props[key] = value
            self._check_manifest_key(line, key)
        return props

    def _check_manifest_key(self, line: int, key: str) -> None:
        known = key in ("manifest.version", "oneroster.version") or key.startswith(("file.", "source."))
        if not known:
            self.issues.warning(MANIFEST, line, key,
                                f"Unknown manifest key '{key}' was ignored (a typo of 'file.'?).")

    def _file_modes(self, props: dict[str, str], version: str) -> dict[str, str]:
        modes: dict[str, str] = {}
        for key, value in props.items():
            if not key.startswith("file."):
                continue
            name = key[5:]
            mode = value.lower()
            if mode not in MODES:
                if value:
                    raise PackageRejected(
                        f"manifest.csv says '{key},{value}'; the mode must be bulk, delta or absent.",
                        file=MANIFEST, field=key)
                self.issues.warning(MANIFEST, None, key, f"'{key}' has no mode; read as absent.")
                mode = "absent"
            elif mode != value:
                self.issues.warning(MANIFEST, None, key, f"Mode '{value}' read as '{mode}'.")
            if name not in KNOWN_FILES[version]:
                self.issues.warning(MANIFEST, None, key,
                                    f"'{name}' is not a OneRoster {version} file; ignored.")
                continue
            modes[name] = mode
        return {e.name: modes.get(e.name, "absent") for e in entities_for(version)}

    def _check_files_present(self, modes: dict[str, str], version: str) -> None:
        for entity in entities_for(version):
            mode, present = modes[entity.name], self.has_file(entity.file_name)
            if mode != "absent" and not present:
                raise PackageRejected(
                    f"manifest.csv says {entity.file_name} is {mode}, but the package has no "
                    f"{entity.file_name}.", file=MANIFEST, field=f"file.{entity.name}")
            if present and self.member_name(entity.file_name) != entity.file_name:
                self.issues.warning(entity.file_name, None, None,
                                    f"The file is named '{self.member_name(entity.file_name)}'; "
                                    f"OneRoster names it '{entity.file_name}'.")
            if mode == "absent" and present:
                self.issues.warning(entity.file_name, None, None,
                                    f"manifest.csv marks {entity.file_name} absent, so the file "
                                    "was not read.")

    def entities(self) -> list[tuple[Entity, str]]:
        """The entities this package changes, in apply order, with their modes."""
        return [(e, self.modes[e.name]) for e in ENTITIES
                if self.modes.get(e.name, "absent") != "absent"]
