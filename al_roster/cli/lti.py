"""`al-roster lti ...`: LTI 1.3 registrations and the tool's key."""
from __future__ import annotations

import click
from flask import current_app

from ..services import districts as district_service
from ..services import lti as lti_service
from .base import cli, emit_json, with_roster


@cli.group(help="LTI 1.3 launches from ClassLink: registrations and the tool's key.")
def lti() -> None:
    pass


@lti.command("register", help="Register a platform (issuer and client id) and link its "
                               "deployment ids to district SLUG.")
@click.argument("slug")
@click.option("--issuer", required=True, help="The platform's issuer (iss).")
@click.option("--client-id", required=True, help="Our client id on the platform.")
@click.option("--deployment-id", "deployment_ids", required=True, multiple=True,
              help="A deployment id of the district (ClassLink: the tenant id); repeatable.")
@click.option("--auth-login-url", required=True, help="The platform's OIDC authorization URL.")
@click.option("--auth-token-url", required=True, help="The platform's access token URL.")
@click.option("--key-set-url", required=True, help="The platform's JWKS URL.")
@with_roster
def lti_register(slug, issuer, client_id, deployment_ids, auth_login_url, auth_token_url,
                 key_set_url) -> None:
    district = district_service.get_district(slug)
    lti_service.register_platform(
        district, issuer=issuer, client_id=client_id, deployment_ids=list(deployment_ids),
        auth_login_url=auth_login_url, auth_token_url=auth_token_url, key_set_url=key_set_url)
    key = lti_service.current_tool_key()
    click.echo(f"Registered {issuer} (client {client_id}) for {district.slug}: deployment "
               f"{', '.join(deployment_ids)}. Tool key {key.kid}.")


@lti.command("rotate-key", help="Make a new tool key; the old one stays in the JWKS for "
                                 "AL_ROSTER_LTI_KEY_GRACE_MINUTES, then is deleted.")
@with_roster
def lti_rotate_key() -> None:
    grace = current_app.config["AL_ROSTER_LTI_KEY_GRACE_MINUTES"]
    key = lti_service.rotate_tool_key(grace)
    click.echo(f"New tool key {key.kid}; the previous key is still published for "
               f"{grace} minutes.")


@lti.command("reseal-keys", help="Encrypt every stored tool key with the newest "
                                  "AL_ROSTER_LTI_KEY_SECRET (after putting a new secret first, "
                                  "or for keys still in clear); the older secrets can go then.")
@with_roster
def lti_reseal_keys() -> None:
    count = lti_service.reseal_tool_keys()
    click.echo(f"{count} tool key(s) encrypted again with the newest secret." if count
               else "Every tool key is already encrypted with the newest secret.")


@lti.command("show", help="District SLUG's LTI registrations and the published tool keys.")
@click.argument("slug")
@click.option("--json", "as_json", is_flag=True)
@with_roster
def lti_show(slug, as_json) -> None:
    district = district_service.get_district(slug)
    registrations = lti_service.describe_registrations(district)
    keys = lti_service.published_keys(current_app.config["AL_ROSTER_LTI_KEY_GRACE_MINUTES"])
    if as_json:
        emit_json({"district": district.slug, "registrations": registrations,
                   "toolKeys": [k["kid"] for k in keys["keys"]]})
        return
    if not registrations:
        click.echo(f"{district.slug}: no LTI registration. `al-roster lti register {slug} ...`")
    for reg in registrations:
        click.echo(f"{district.slug}: {reg['issuer']} client {reg['clientId']}, deployments "
                   f"{', '.join(reg['deploymentIds'])}")
        click.echo(f"  login {reg['authLoginUrl']}\n  token {reg['authTokenUrl']}\n"
                   f"  keys  {reg['keySetUrl']}")
    click.echo("Tool keys published: " + ", ".join(k["kid"] for k in keys["keys"]))
