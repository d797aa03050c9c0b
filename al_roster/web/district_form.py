"""The console's district form and its JSON twin, read into the changes the districts
service applies (:mod:`al_roster.services.districts` holds every rule). Absent or empty
fields leave a setting as it is."""
from __future__ import annotations

from ..errors import RosterError
from ..services.districts import DistrictChanges, LtiChange, SourceChange

TRUE = (True, "on", "true", "1", 1)


def changes(data) -> DistrictChanges:
    threshold = _number(data, "threshold", float,
                        "The deletion threshold is a share between 0 and 1 (0.1 is 10%).")
    return DistrictChanges(
        name=_raw(data, "name"), classlink_tenant_id=_raw(data, "classlinkTenantId"),
        plan=_raw(data, "plan") or None, rostering=_flag(data, "rostering"),
        deletion_threshold=threshold, contacts=_raw(data, "contacts"),
        timezone=_raw(data, "timezone") or None, source=_source(data), lti=_lti(data),
        **_guard_settings(data))


def _guard_settings(data) -> dict:
    """scopeThreshold, updateThreshold, holdWholeRuns and removalGraceRuns."""
    out: dict = {}
    for key, field, kind in (("scopeThreshold", "scope_threshold", float),
                             ("updateThreshold", "update_threshold", float),
                             ("removalGraceRuns", "removal_grace_runs", int)):
        value = _number(data, key, kind, f"{key} must be a number, not "
                                         f"{str(data.get(key))[:20]!r}.")
        if value is not None:
            out[field] = value
    whole = data.get("holdWholeRuns")
    if whole not in (None, ""):
        out["hold_whole_runs"] = whole in TRUE
    return out


def _source(data) -> SourceChange | None:
    kind = _text(data, "sourceKind")
    if not kind:
        return None
    return SourceChange(kind, directory=_text(data, "csvDropDirectory"),
                        url=_text(data, "apiUrl"), version=_text(data, "apiVersion") or "1.1",
                        client_id=_text(data, "apiClientId"),
                        client_secret_env=_text(data, "apiClientSecretEnv"))


def _lti(data) -> LtiChange | None:
    if not _text(data, "ltiIssuer"):
        return None
    deployments = tuple(d.strip() for d in _text(data, "ltiDeploymentIds").split(",")
                        if d.strip())
    return LtiChange(issuer=_text(data, "ltiIssuer"), client_id=_text(data, "ltiClientId"),
                     deployment_ids=deployments,
                     auth_login_url=_text(data, "ltiAuthLoginUrl"),
                     auth_token_url=_text(data, "ltiAuthTokenUrl"),
                     key_set_url=_text(data, "ltiKeySetUrl"))


def _raw(data, key: str) -> str | None:
    value = data.get(key)
    return None if value is None else str(value)


def _text(data, key: str) -> str:
    return str(data.get(key) or "").strip()


def _flag(data, key: str) -> bool | None:
    value = data.get(key)
    return None if value is None else value in TRUE


def _number(data, key: str, kind, refusal: str):
    value = data.get(key)
    if value in (None, ""):
        return None
    try:
        return kind(value)
    except (TypeError, ValueError) as exc:
        raise RosterError(refusal) from exc
