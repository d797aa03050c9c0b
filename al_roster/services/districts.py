"""Creating, finding and describing districts."""
from __future__ import annotations

from ..errors import DistrictNotFound, RosterError
from ..models import ROSTER_MODELS, District, SyncRun, present
from ..models.district import PLANS
from ..sync.runner import SyncOptions, check_abandoned_runs


def get_district(slug: str) -> District:
    district = District.get_or_none(District.slug == slug)
    if district is None:
        raise DistrictNotFound(f"No district '{slug}'. `al-roster district add {slug} --name ...` "
                               "creates it.")
    return district


def add_district(slug: str, name: str, *, classlink_tenant_id: str | None = None,
                 plan: str = "basic", rostering: bool = False,
                 deletion_threshold: float | None = None) -> District:
    if District.select().where(District.slug == slug).exists():
        raise RosterError(f"District '{slug}' already exists.")
    check_plan(plan, rostering)
    fields = dict(slug=slug, name=name, classlink_tenant_id=classlink_tenant_id or None,
                  plan=plan, rostering_enabled=rostering)
    if deletion_threshold is not None:
        fields["deletion_threshold"] = check_threshold(deletion_threshold)
    return District.create(**fields)


def check_plan(plan: str, rostering: bool) -> None:
    if plan not in PLANS:
        raise RosterError(f"Plan must be one of {', '.join(PLANS)}.")
    if rostering and plan != "prime":
        raise RosterError("ClassLink rostering can be enabled only on the Prime plan.")


def check_threshold(value: float) -> float:
    if not 0 <= value <= 1:
        raise RosterError("The deletion threshold is a share between 0 and 1 (0.1 is 10%).")
    return value


def roster_counts(district: District) -> dict[str, int]:
    """Present (not removed) records per entity in the district's roster copy."""
    return {name: present(model, district.id).count() for name, model in ROSTER_MODELS.items()}


def last_run(district: District) -> SyncRun | None:
    return district.runs.order_by(SyncRun.id.desc()).first()


def describe_district(district: District, options: SyncOptions | None = None) -> dict:
    if options is not None:
        check_abandoned_runs(district, options)
    run = last_run(district)
    return {
        "slug": district.slug,
        "name": district.name,
        "classlinkTenantId": district.classlink_tenant_id,
        "plan": district.plan,
        "rosteringEnabled": district.rostering_enabled,
        "deletionThreshold": district.deletion_threshold,
        "source": {"kind": district.source_kind, **(district.source_config or {})},
        "counts": roster_counts(district),
        "lastRun": None if run is None else {
            "run": run.id, "status": run.status, "startedAt": run.started_at.isoformat() + "Z",
            "message": run.message},
    }
