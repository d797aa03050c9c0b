"""Time a OneRoster REST pull of a generated district: pages per second and total time.

Generates a bulk package with ``al_roster.demo.generator``, serves it on loopback with
the test OneRoster API (``tests/peers/oneroster_api.py``: OAuth 1.0a signatures or OAuth 2
tokens checked on every request) in a process of its own, and pulls it back with
``al_roster.oneroster.rest``. The server is plain Python too, so the numbers say what the
client keeps up with, not what a real Roster Server delivers.

    python benchmarks/rest_pull.py --students 100000 --version 1.1 --page-size 1000
"""
from __future__ import annotations

import argparse
import multiprocessing
import resource
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # for tests.peers when run as a script

from al_roster.demo.generator import generate_district  # noqa: E402
from al_roster.oneroster.entities import VERSIONS  # noqa: E402
from al_roster.oneroster.rest import RestSource, pull_package  # noqa: E402
from tests.peers.oneroster_api import serve_oneroster  # noqa: E402


def _serve(district: Path, version: str, pipe) -> None:
    with serve_oneroster(district, version) as api:
        pipe.send(api.source_settings())
        pipe.recv()  # until the pull is over


@contextmanager
def server_process(district: Path, version: str):
    """The API in another process, so that client and server do not share one GIL."""
    ours, theirs = multiprocessing.Pipe()
    process = multiprocessing.Process(target=_serve, args=(district, version, theirs))
    process.start()
    try:
        yield ours.recv()
    finally:
        ours.send("stop")
        process.join()


def run(students: int, version: str, page_size: int, seed: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="rest-pull-") as tmp:
        district = Path(tmp) / "district"
        started = time.perf_counter()
        counts = generate_district(district, students, seed=seed, version=version)
        generated = time.perf_counter() - started
        with server_process(district, version) as settings:
            source = RestSource(page_size=page_size, **settings)
            started = time.perf_counter()
            summary = pull_package(source, Path(tmp) / "pulled")
            pulled = time.perf_counter() - started
    return {"counts": counts, "generated": generated, "pulled": pulled, "summary": summary}


def report(result: dict, students: int, version: str, page_size: int) -> None:
    summary = result["summary"]
    print(f"OneRoster {version} REST pull, {students:,} students, page size {page_size}")
    print(f"  generated the district in {result['generated']:.1f} s "
          f"({result['counts']['total']:,} CSV rows)")
    print(f"  {'collection':<18}{'rows':>10}{'pages':>8}{'seconds':>10}")
    for name, stats in summary["collections"].items():
        print(f"  {name:<18}{stats['rows']:>10,}{stats['pages']:>8,}{stats['seconds']:>10.1f}")
    pages = sum(s["pages"] for s in summary["collections"].values())
    rows = sum(summary["files"].values())
    seconds = result["pulled"]
    print(f"  total: {rows:,} rows in {pages:,} pages, {seconds:.1f} s: "
          f"{pages / seconds:.1f} pages/s, {rows / seconds:,.0f} rows/s")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"  peak RSS of the client (benchmark process): {peak_mb:.0f} MB")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=100_000)
    parser.add_argument("--version", choices=VERSIONS, default="1.1")
    parser.add_argument("--page-size", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    result = run(args.students, args.version, args.page_size, args.seed)
    report(result, args.students, args.version, args.page_size)
    return 0


if __name__ == "__main__":
    sys.exit(main())
