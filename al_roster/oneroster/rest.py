"""Pull a district's roster from a OneRoster REST API into a OneRoster CSV package.

Specifications:

- OneRoster 1.1 REST binding: https://www.imsglobal.org/oneroster-v11-final-specification
  (base path ``/ims/oneroster/v1p1``, OAuth 1.0a signed with HMAC-SHA256 as ClassLink's
  Roster Server requires: https://developer.classlink.com/reference/accessing-data).
- OneRoster 1.2 Rostering REST binding: https://www.imsglobal.org/spec/oneroster/v1p2
  (base path ``/ims/oneroster/rostering/v1p2``, OAuth 2 client credentials).
- The output follows the OneRoster CSV binding of the same version.

This module runs a pull: collection by collection, page by page, refusing a pull that lost
rows. Talking to the server (auth, retries, bounds) is :mod:`.rest_api`'s; turning JSON
records into CSV rows is :mod:`.rest_records`'s.

The sync engine reads CSV packages only, so a REST pull writes one: ``manifest.csv`` plus a
CSV file per collection, streamed page by page. REST sources then meet exactly the same
validation as CSV drops. The package is written into a hidden staging folder beside
``out_dir`` and renamed into place only once every collection arrived complete; a pull that
fails leaves nothing that could be mistaken for a (truncated) bulk package.

What a pull does not carry: ``metadata`` extension fields (their columns are unknown until
the last page), user passwords (we never store them; the column stays blank), and in a delta
pull the removal of a single 1.2 role (the REST user lists only its current roles).
"""
from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from al_roster.errors import SourceError
from al_roster.oneroster.address_policy import check_url, parse_allowed_hosts
from al_roster.oneroster.answers import clean, show_url
from al_roster.oneroster.http_bounds import PullBudget
from al_roster.oneroster.manifest import write_manifest
from al_roster.oneroster.rest_api import (  # noqa: F401  (RestSource, format_since re-exported)
    BASE_PATHS,
    RestApi,
    RestSource,
    format_since,
)
from al_roster.oneroster.rest_records import Collection, CsvWriter, collections_for

log = logging.getLogger(__name__)


def pull_package(source: RestSource, out_dir: str | os.PathLike, *,
                 since: datetime | None = None,
                 sleep: Callable[[float], Any] = time.sleep) -> dict:
    """Pull every rostering collection into a new CSV package at ``out_dir``.

    ``since=None`` writes a bulk package (the complete current set; records the server
    already marks ``tobedeleted`` are left out). With ``since`` only records modified after
    it are asked for (``filter=dateLastModified>'...'``) and a delta package is written,
    each row carrying its ``status`` and ``dateLastModified``.

    Returns a summary: ``mode``, ``version``, ``seconds``; ``collections``: per collection
    ``rows`` written, ``pages`` fetched, ``skipped`` (tobedeleted records left out of a bulk
    pull) and ``seconds``; ``files``: rows per CSV file written (1.2 adds ``roles``).
    Raises :class:`SourceError` when the package cannot be complete; nothing is left at
    ``out_dir`` then.
    """
    _check_source(source)
    out_dir = Path(out_dir)
    _check_out_dir(out_dir)
    started = time.monotonic()
    mode = "delta" if since is not None else "bulk"
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".partial",
                                    dir=out_dir.parent))
    try:
        with RestApi(source, sleep) as api:
            collections, files = {}, {}
            for spec in collections_for(source.version):
                collections[spec.endpoint] = _pull_collection(api, spec, staging, since, files)
        if mode == "bulk":
            _leave_out_empty_files(staging, files)
        write_manifest(staging, source.version, dict.fromkeys(files, mode))
        _move_into_place(staging, out_dir)
    except (RecursionError, OverflowError, UnicodeError) as exc:
        # Whatever slipped past the checks: still a source that could not deliver.
        shutil.rmtree(staging, ignore_errors=True)
        raise SourceError(f"The server's answers could not be read ({type(exc).__name__}: "
                          f"{clean(str(exc))[:120]}); the pull stopped.") from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return {"mode": mode, "version": source.version,
            "seconds": round(time.monotonic() - started, 3),
            "collections": collections, "files": files}


# -- checks before any request ---------------------------------------------------------

def _check_source(source: RestSource) -> None:
    if source.version not in BASE_PATHS:
        raise SourceError(f"OneRoster version {source.version!r} is not supported over REST; "
                          f"use one of {', '.join(BASE_PATHS)}.")
    if not source.client_id or not source.client_secret:
        raise SourceError("The OneRoster REST source has no client id or secret configured.")
    if source.page_size < 1 or source.max_attempts < 1:
        raise SourceError("page_size and max_attempts of a REST source must be at least 1.")
    allowed = parse_allowed_hosts(source.allowed_hosts)
    for url in (source.api_root, source.token_endpoint):
        check_url(url, allowed)


def _leave_out_empty_files(staging: Path, files: dict[str, int]) -> None:
    """A collection that came back empty is marked absent, not sent as an empty bulk file:
    the CSV binding has no empty data file, and "the server listed nobody" is far likelier
    a broken answer than a district with no one left in it."""
    for name in [name for name, rows in files.items() if rows == 0]:
        (staging / f"{name}.csv").unlink()
        del files[name]
        log.warning("OneRoster REST %s: no records; left out of the package (absent)", name)


def _check_out_dir(out_dir: Path) -> None:
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise SourceError(f"Cannot write the pulled package to {out_dir}: it already exists "
                          "and is not an empty folder.")
    out_dir.parent.mkdir(parents=True, exist_ok=True)


def _move_into_place(staging: Path, out_dir: Path) -> None:
    # rename() replaces an empty folder atomically; the package appears all at once. The
    # folder keeps mkdtemp's owner-only mode: it holds pupils' personal data.
    staging.replace(out_dir)


# -- one collection ------------------------------------------------------------------

def _pull_collection(api: RestApi, spec: Collection, staging: Path, since: datetime | None,
                     files: dict[str, int]) -> dict:
    started = time.monotonic()
    pager = _Pager(spec.endpoint, api.source.page_size, api.budget)
    url = api.first_page_url(spec.endpoint, since)
    with CsvWriter(staging, spec, delta=since is not None) as writer:
        while url:
            api.budget.charge_page(f"GET {show_url(url)}")
            records, total, next_link = api.fetch_page(url, spec.envelope)
            api.budget.charge_rows(len(records), f"GET {show_url(url)}")
            writer.write_records(records, where=f"GET {show_url(url)}")
            url = pager.next_url(url, len(records), total, next_link, api)
    files.update(writer.rows)
    log.info("OneRoster REST %s: %d records in %d pages", spec.endpoint, pager.received,
             pager.pages)
    return {"rows": writer.rows[spec.endpoint], "pages": pager.pages,
            "skipped": writer.skipped, "seconds": round(time.monotonic() - started, 3)}


@dataclass
class _Pager:
    """Decides whether another page follows, and refuses a pull that lost rows.

    Servers may cap ``limit`` silently, so the first page that is followed by others
    sets the page size every later page must match; a short page with more to come
    means rows went missing. A next page already fetched (a cursor that repeats) would
    loop for ever, and an X-Total-Count beyond the pull's row limit is refused at once.
    """

    collection: str
    limit: int
    budget: PullBudget
    received: int = 0
    pages: int = 0
    total: int | None = None
    page_size: int | None = None
    seen: set[bytes] = field(default_factory=set)

    def next_url(self, url: str, rows: int, total: int | None, next_link: str | None,
                 api: RestApi) -> str | None:
        self._saw(url)
        self._count(rows, total, url)
        if not self._more(rows, next_link, url):
            return None
        self._check_full_page(rows, url)
        if next_link:
            following = api.follow_link(url, next_link, self.received)
            if _digest(following) in self.seen:
                raise SourceError(f"GET {show_url(url)}: the next-page link repeats an earlier page "
                                  f"({show_url(following)[:200]}); following it would loop for ever.")
            return following
        return api.with_offset(url, self.received)

    def _saw(self, url: str) -> None:
        self.seen.add(_digest(url))

    def _count(self, rows: int, total: int | None, url: str) -> None:
        self.pages += 1
        self.received += rows
        if total is not None and self.total is not None and total != self.total:
            raise SourceError(
                f"GET {show_url(url)}: X-Total-Count changed from {self.total} to {total} during "
                f"the pull of {self.collection}; the data changed underneath us, try again.",
                passing=True)
        if total is not None and self.total is None:
            self.budget.check_total(total, self.collection, f"GET {show_url(url)}")
        self.total = self.total if total is None else total
        if self.total is not None and self.received > self.total:
            raise SourceError(f"GET {show_url(url)}: received {self.received} {self.collection} "
                              f"but X-Total-Count is {self.total}.")

    def _more(self, rows: int, next_link: str | None, url: str) -> bool:
        if self.total is not None:
            more = self.received < self.total
        else:
            more = bool(next_link) or rows >= (self.page_size or self.limit)
        if rows == 0 and more:
            raise SourceError(
                f"GET {show_url(url)} returned no {self.collection} after {self.received}, yet "
                f"{self._expected()} more; the pull is incomplete.")
        return more

    def _check_full_page(self, rows: int, url: str) -> None:
        if self.page_size is None:
            self.page_size = rows
            return
        if rows < self.page_size:
            raise SourceError(
                f"GET {show_url(url)} returned {rows} {self.collection} where pages hold "
                f"{self.page_size}, yet {self._expected()} more; the pull is incomplete.")

    def _expected(self) -> str:
        if self.total is not None:
            return f"X-Total-Count ({self.total}) says there are"
        return "the Link header says there are"


def _digest(url: str) -> bytes:
    return hashlib.blake2b(url.encode("utf-8", "replace"), digest_size=16).digest()
