"""Attack: a OneRoster API source set up to send the app's secrets, or its requests, inside.

Whoever sets a district's source (staff at the console or the command line, or an old stored
config) names the environment variable that holds the client secret and the server's URL.
Named freely, they would send the app's SECRET_KEY (or any other variable) to any server,
and point the worker at loopback, the private network or a cloud metadata address. The
variable must carry the AL_ROSTER_SOURCE_ prefix and the URL must be https to a public
address unless AL_ROSTER_SOURCE_ALLOWED_HOSTS lists it, when set and again when used.

Names are answered by a resolver stub, and a guard stops any connection that is not to
loopback before a packet leaves: no test here talks to anything but 127.0.0.1.
"""
from __future__ import annotations

import base64
import datetime as dt
import errno
import ipaddress
import socket
import ssl

import pytest
import requests

from al_roster import jobs
from al_roster.errors import RosterError, SourceError
from al_roster.models import District, SyncRun
from al_roster.oneroster.rest import RestSource, pull_package
from al_roster.services import sources
from al_roster.services.districts import add_district
from al_roster.settings import from_environment

from .hostile_server import Reply, Seen, good_token, hostile_server

PUBLIC = "93.184.216.34"  # looks public; the guard never lets a connection reach it
INTERNAL = [
    "127.0.0.1", "127.8.9.10", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254",
    "100.64.0.1", "0.0.0.0", "224.0.0.1", "240.0.0.1", "255.255.255.255", "::1", "::",
    "fe80::1", "fc00::1", "fd12:3456::1", "ff02::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1",
    "::ffff:169.254.169.254", "2002:a00:1::1", "64:ff9b::a00:1",
]


def url_host(address: str) -> str:
    return f"[{address}]" if ":" in address else address


@pytest.fixture
def connects(monkeypatch) -> list[tuple[str, int]]:
    """Every connection the code under test opens; any not to loopback is stopped here."""
    seen: list[tuple[str, int]] = []
    real = socket.socket.connect

    def guarded(sock, address):
        host = address[0].split("%")[0]
        seen.append((host, address[1]))
        if not ipaddress.ip_address(host).is_loopback:
            raise OSError(errno.ENETUNREACH, f"test guard: no traffic to {host}")
        return real(sock, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)
    return seen


@pytest.fixture
def dns(monkeypatch) -> dict:
    """Made-up names answered from ``dns[name]`` (a list of addresses, or a function giving
    one); ``dns["calls"]`` counts lookups. Numbers go to the real resolver, which does not
    ask the network for them; any other name fails as unknown."""
    table: dict = {"calls": []}
    real = socket.getaddrinfo

    def resolve(host, port, family=0, type=0, proto=0, flags=0):
        name = host.decode() if isinstance(host, bytes) else str(host)
        if name in table:
            table["calls"].append(name)
            answers = table[name]() if callable(table[name]) else table[name]
            return [(socket.AF_INET6, socket.SOCK_STREAM, 6, "", (a, int(port), 0, 0))
                    if ":" in a else (socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, int(port)))
                    for a in answers]
        try:
            ipaddress.ip_address(name.strip("[]").split("%")[0])
        except ValueError:
            if name != "localhost":
                raise socket.gaierror(socket.EAI_NONAME, f"test resolver: {name} unknown") \
                    from None
        return real(host, port, family, type, proto, flags)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    return table


@pytest.fixture
def springfield(app):
    return add_district("springfield", "Springfield USD", plan="prime", rostering=True)


def set_api(district, url="https://roster.springfield.example", env="AL_ROSTER_SOURCE_X",
            **extra):
    return sources.set_oneroster_api(district, url, "1.2", "client-1", env, **extra)


# -- the secret's variable -------------------------------------------------------------------

@pytest.mark.parametrize("name", ["SECRET_KEY", "AL_ROSTER_DATABASE_URL",
                                  "AWS_SECRET_ACCESS_KEY", "AL_ROSTER_SMTP_PASSWORD",
                                  "AL_ROSTER_SOURCE_ALLOWED_HOSTS", "AL_ROSTER_SOURCE_"])
def test_a_secret_variable_outside_the_prefix_is_refused_when_set(springfield, name):
    with pytest.raises(RosterError, match="AL_ROSTER_SOURCE_SPRINGFIELD_SECRET"):
        set_api(springfield, env=name)
    assert District.get_by_id(springfield.id).source_kind == "none"


def test_the_command_line_refuses_it(springfield, runner):
    out = runner.invoke(args=["al-roster", "district", "source", "springfield",
                              "--oneroster-api", "https://roster.springfield.example",
                              "--oneroster-version", "1.2", "--client-id", "abc",
                              "--client-secret-env", "SECRET_KEY"])
    assert out.exit_code == 1
    assert "AL_ROSTER_SOURCE_SPRINGFIELD_SECRET" in out.output


def test_the_console_refuses_it(springfield, client):
    from admin_helpers import CSRF, account, roster_person, sign_in
    roster_person(springfield, "teacher", "staff-1")
    sign_in(client, account(springfield, "teacher", "staff-1", is_staff=True))
    answer = client.post("/roster/api/admin/districts", headers={"X-CSRF-Token": CSRF}, json={
        "slug": "springfield", "sourceKind": "oneroster_api",
        "apiUrl": "https://roster.springfield.example", "apiVersion": "1.2",
        "apiClientId": "abc", "apiClientSecretEnv": "SECRET_KEY"})
    assert answer.status_code == 400
    assert "AL_ROSTER_SOURCE_SPRINGFIELD_SECRET" in answer.get_json()["error"]
    assert District.get_by_id(springfield.id).source_kind == "none"


def test_a_stored_config_naming_another_variable_is_refused_when_used(springfield,
                                                                      monkeypatch, app):
    monkeypatch.setenv("SECRET_KEY", "the-apps-session-signing-key")
    app.config["AL_ROSTER_SOURCE_ALLOWED_HOSTS"] = "127.0.0.1"
    with hostile_server(lambda seen, reply: good_token(seen, reply)) as server:
        springfield.source_kind = "oneroster_api"  # as an old release let anyone store it
        springfield.source_config = {"url": server.base_url, "version": "1.2",
                                     "client_id": "abc", "client_secret_env": "SECRET_KEY"}
        springfield.save()
        result = jobs.run_district_sync(springfield.id, full=True)
    assert server.requests == []  # nothing sent, so the key went nowhere
    run = SyncRun.get_by_id(result["run"])
    assert run.status == "failed" and "AL_ROSTER_SOURCE_SPRINGFIELD_SECRET" in run.message
    assert "the-apps-session-signing-key" not in run.message


def test_source_secrets_are_not_read_as_settings():
    found = from_environment({"AL_ROSTER_SOURCE_NORTH_SECRET": "s3cret",
                              "AL_ROSTER_SOURCE_ALLOWED_HOSTS": "roster.test",
                              "AL_ROSTER_QUEUE": "q"})
    assert found == {"AL_ROSTER_SOURCE_ALLOWED_HOSTS": "roster.test", "AL_ROSTER_QUEUE": "q"}


# -- the URL, when set ----------------------------------------------------------------------

@pytest.mark.parametrize("field", ["url", "token_url"])
def test_plain_http_is_refused_when_set_unless_the_host_is_allowed(springfield, app, field):
    address = {field: "http://roster.springfield.example:8080/x"}
    url = address.pop("url", "https://roster.springfield.example")
    with pytest.raises(RosterError, match="https"):
        set_api(springfield, url, **address)
    app.config["AL_ROSTER_SOURCE_ALLOWED_HOSTS"] = "other.example, roster.springfield.example:8080"
    set_api(springfield, url, **address)
    assert District.get_by_id(springfield.id).source_kind == "oneroster_api"


@pytest.mark.parametrize("address", INTERNAL)
@pytest.mark.parametrize("field", ["url", "token_url"])
def test_an_internal_address_is_refused_when_set(springfield, connects, address, field):
    target = f"https://{url_host(address)}/ims"
    settings = {"token_url": target} if field == "token_url" else {}
    with pytest.raises(RosterError, match="not a public address"):
        set_api(springfield, target if field == "url" else "https://roster.example", **settings)
    assert connects == []


@pytest.mark.parametrize("url", ["https://localhost/x", "https://roster.localhost/",
                                 "https://user:pw@roster.example/", "ftp://roster.example/",
                                 "https:///nohost"])
def test_other_unusable_urls_are_refused_when_set(springfield, url):
    with pytest.raises(RosterError):
        set_api(springfield, url)


def test_an_allowed_private_host_may_be_set_on_its_port_only(springfield, app):
    app.config["AL_ROSTER_SOURCE_ALLOWED_HOSTS"] = "10.0.0.7:8443"
    set_api(springfield, "https://10.0.0.7:8443")
    with pytest.raises(RosterError, match="not a public address"):
        set_api(springfield, "https://10.0.0.7")


# -- the URL, when used ---------------------------------------------------------------------

def pull(url: str, tmp_path, *, version="1.1", allowed=(), **settings):
    source = RestSource(url, version, "client-1", "s3cret", allowed_hosts=tuple(allowed),
                        max_attempts=1, **settings)
    return pull_package(source, tmp_path / "pkg", sleep=lambda s: None)


@pytest.mark.parametrize("answers", [[a] for a in INTERNAL] + [[PUBLIC, "10.0.0.5"]],
                         ids=lambda a: "+".join(a))
def test_a_name_resolving_inside_is_refused_before_connecting(tmp_path, dns, connects,
                                                              answers):
    dns["roster.springfield.example"] = answers
    with pytest.raises(SourceError, match=r"roster.springfield.example resolves to .*not a "
                                          r"public address") as caught:
        pull("https://roster.springfield.example", tmp_path)
    assert connects == [] and not caught.value.passing


def test_the_token_url_is_held_to_the_same_rule(tmp_path, dns, connects):
    dns["roster.springfield.example"] = [PUBLIC]
    dns["login.springfield.example"] = ["169.254.169.254"]
    with pytest.raises(SourceError, match="login.springfield.example resolves to "
                                          "169.254.169.254"):
        pull("https://roster.springfield.example", tmp_path, version="1.2",
             token_url="https://login.springfield.example/token")
    assert connects == []


def test_a_second_dns_answer_cannot_slip_in_between_check_and_connect(tmp_path, dns,
                                                                      connects):
    answers = iter([[PUBLIC]])
    dns["roster.springfield.example"] = lambda: next(answers, ["127.0.0.1"])  # then rebinds
    with pytest.raises(SourceError, match="connection failed"):
        pull("https://roster.springfield.example", tmp_path)
    assert dns["calls"] == ["roster.springfield.example"]  # resolved once...
    assert connects == [(PUBLIC, 443)]  # ...and connected to what was checked, stopped here


def test_an_allowed_name_is_reached_where_it_resolved_under_its_own_name(tmp_path, dns,
                                                                          connects):
    def answer(seen: Seen, reply: Reply) -> None:
        if seen.path == "/token":
            good_token(seen, reply)
        else:
            reply.json({seen.path.rsplit("/", 1)[-1]: []})

    with hostile_server(answer) as server:
        dns["roster.springfield.test"] = ["127.0.0.1"]
        # 1.2: OAuth 2 over plain http, to a name the operator allowed
        pull(f"http://roster.springfield.test:{server.port}", tmp_path, version="1.2",
             allowed=["roster.springfield.test"])
    assert {r.headers["host"] for r in server.requests} == {
        f"roster.springfield.test:{server.port}"}
    assert set(connects) == {("127.0.0.1", server.port)}


def test_oneroster_1_1_over_http_to_an_allowed_name_is_a_clear_source_error(tmp_path, dns,
                                                                          connects):
    dns["roster.springfield.test"] = ["127.0.0.1"]
    with pytest.raises(SourceError, match="signs requests over https only"):
        pull("http://roster.springfield.test:9", tmp_path, allowed=["roster.springfield.test"])
    assert connects == []  # OAuth 1 refuses before sending


def make_certificates(tmp_path, name: str):
    """A throwaway CA (its PEM file) and a server context for ``name`` signed by it."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    def cert(subject, issuer, key, signer, *, ca, san=None):
        now = dt.datetime.now(dt.UTC)
        builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - dt.timedelta(hours=1))
                   .not_valid_after(now + dt.timedelta(hours=1))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if san:
            builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(san)]),
                                            critical=False)
        return builder.sign(signer, hashes.SHA256())

    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test CA")])
    ca = cert(ca_name, ca_name, ca_key, ca_key, ca=True)
    leaf = cert(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]), ca_name, key,
                ca_key, ca=False, san=name)
    pem = serialization.Encoding.PEM
    (tmp_path / "ca.pem").write_bytes(ca.public_bytes(pem))
    (tmp_path / "leaf.pem").write_bytes(leaf.public_bytes(pem) + key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tmp_path / "leaf.pem")
    return str(tmp_path / "ca.pem"), context


@pytest.mark.parametrize("certified", ["roster.springfield.test", "someone-else.test"])
def test_tls_is_checked_against_the_name_while_connecting_to_the_checked_address(
        tmp_path, dns, connects, monkeypatch, certified):
    (tmp_path / "certs").mkdir()
    ca_file, context = make_certificates(tmp_path / "certs", certified)
    monkeypatch.setattr(requests.adapters, "DEFAULT_CA_BUNDLE_PATH", ca_file)
    names = []
    context.sni_callback = lambda sock, name, ctx: names.append(name)

    def answer(seen, reply):
        reply.json({seen.path.rsplit("/", 1)[-1]: []})

    with hostile_server(answer, tls=context) as server:
        dns["roster.springfield.test"] = ["127.0.0.1"]
        url = f"https://roster.springfield.test:{server.port}"
        if certified == "roster.springfield.test":
            pull(url, tmp_path / "ok", allowed=["roster.springfield.test"])
            assert server.requests
        else:
            with pytest.raises(SourceError, match="certificate was refused.*Hostname mismatch"
                               ) as caught:
                pull(url, tmp_path / "bad", allowed=["roster.springfield.test"])
            assert server.requests == [] and not caught.value.passing
    assert names and set(names) == {"roster.springfield.test"}  # SNI carried the name
    assert {c[0] for c in connects} == {"127.0.0.1"}


# -- what the server says back ------------------------------------------------------------------

def test_a_remote_error_body_reaches_the_run_only_as_a_short_clean_excerpt(springfield,
                                                                           app, monkeypatch):
    app.config["AL_ROSTER_SOURCE_ALLOWED_HOSTS"] = "127.0.0.1"
    monkeypatch.setenv("AL_ROSTER_SOURCE_SPRINGFIELD_SECRET", "s3cret")
    noise = ("\x1b[31mALERT\x1b[0m\x00 call \u202eevil\u202c now\r\n" * 300).encode()

    def answer(seen, reply):
        reply.head(418, {"Content-Type": "text/plain", "Content-Length": str(len(noise))})
        reply.body(noise)

    with hostile_server(answer) as server:
        sources.set_oneroster_api(springfield, server.base_url, "1.1", "client-1",
                                  "AL_ROSTER_SOURCE_SPRINGFIELD_SECRET")
        result = jobs.run_district_sync(springfield.id, full=True)
    message = SyncRun.get_by_id(result["run"]).message
    excerpt = message.split("HTTP 418: ", 1)[1]
    assert len(excerpt) <= 200 and "ALERT" in excerpt
    assert not any(ch in message for ch in "\x1b\x00\u202e\u202c\r\n")


def test_basic_auth_carries_only_the_named_variable(tmp_path, monkeypatch):
    """The token request of a well-set source sends its own secret and nothing else."""
    def answer(seen, reply):
        if seen.path == "/token":
            good_token(seen, reply)
        else:
            reply.json({seen.path.rsplit("/", 1)[-1]: []})

    with hostile_server(answer) as server:
        pull(server.base_url, tmp_path, version="1.2", allowed=["127.0.0.1"])
    [token] = [r for r in server.requests if r.path == "/token"]
    scheme, _, value = token.headers["authorization"].partition(" ")
    assert scheme == "Basic" and base64.b64decode(value) == b"client-1:s3cret"
