"""What the attack tests share: a district's roster as its SIS writes it, and signing in
through the dev sign-in (the same provisioning and session code as ClassLink sign-ins)."""
from __future__ import annotations

from flask import g, has_app_context
from packages import write_package

from al_roster.models import District
from al_roster.sync.runner import sync_package


def roster(*people, school="sch-1", district_org="dist-1") -> dict[str, list[dict]]:
    """One school of a district; ``people`` are (sourcedId, role, e-mail[, orgs]) tuples."""
    users = []
    for sourced_id, role, email, *orgs in people:
        users.append(dict(sourcedId=sourced_id, enabledUser="true",
                          orgSourcedIds=orgs[0] if orgs else school, role=role,
                          username=sourced_id, givenName=sourced_id.title(), familyName="Person",
                          email=email))
    return {
        "orgs": [dict(sourcedId=district_org, name="The District", type="district"),
                 dict(sourcedId=school, name="The School", type="school",
                      parentSourcedId=district_org)],
        "academicSessions": [dict(sourcedId="term-1", title="Year", type="schoolYear",
                                  startDate="2020-08-01", endDate="2099-06-30",
                                  schoolYear="2099")],
        "courses": [dict(sourcedId="crs-1", title="Algebra", orgSourcedId=school)],
        "classes": [dict(sourcedId="cls-1", title="Algebra I", courseSourcedId="crs-1",
                         classType="scheduled", schoolSourcedId=school, termSourcedIds="term-1")],
        "users": users,  # no enrollments: a bulk file may not be empty, so none is sent
    }


def district(slug: str, tenant: str | None = None) -> District:
    return District.create(slug=slug, name=f"{slug.title()} District", plan="prime",
                           rostering_enabled=True, classlink_tenant_id=tenant)


def sync(app, target: District, folder, files, **package):
    run = sync_package(target, write_package(folder, files, **package),
                       app.extensions["al_roster"].sync_options, force=True)
    assert run.status == "applied", run.message
    return run


def csrf_of(client) -> str:
    with client.session_transaction() as session:
        return session.setdefault("al_roster_csrf", "csrf-of-this-browser")


def dev_sign_in(client, slug: str, sourced_id: str):
    """Signs the test client in as a roster person, as a ClassLink sign-in would."""
    client.get(f"/roster/dev/login?district={slug}")
    token = csrf_of(client)
    answer = client.post("/roster/dev/login", data=dict(csrf_token=token, district=slug,
                                                        sourced_id=sourced_id, next="/"))
    forget_loaded_user()
    return answer


def forget_loaded_user() -> None:
    """The tests' requests share one app context, where Flask-Login keeps the user it loaded:
    drop it, so the next request loads the user from its session as a new request would."""
    if has_app_context():
        g.pop("_login_user", None)
