"""The demo district `make run` shows: generated, synced, ready to sign in to."""
from __future__ import annotations

from pathlib import Path

from ..models import District, SyncRun
from ..oneroster.generator import generate_district
from ..sync.runner import SyncOptions, sync_package

DEMO_SLUG = "demo"
DEMO_TENANT = "demo-tenant"


def load_demo_district(students: int, package_dir: Path, options: SyncOptions) -> SyncRun:
    district, _ = District.get_or_create(
        slug=DEMO_SLUG, defaults=dict(name="Demo Unified School District", plan="prime",
                                      rostering_enabled=True,
                                      classlink_tenant_id=DEMO_TENANT))
    generate_district(package_dir, students, seed=7)
    return sync_package(district, package_dir, options, source="demo")
