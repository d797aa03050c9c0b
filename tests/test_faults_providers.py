"""ClassLink and LTI platforms slow or down: bounded waits, kept copies, a page that says so.

A TCP proxy (``peers/tcp_proxy.py``) sits in front of the OpenID provider peer (everything
the app and the browser send it goes through the proxy) and in front of the LTI platform
peer's key set. It hangs (accepts, never answers) or drops connections, all of them or only
those whose request line names a path.
"""
from __future__ import annotations

import html
import time
from urllib.parse import urlsplit

import pytest
import requests
from fault_helpers import ADA, BO, CY, launch, lti_site
from peers.oidc_peer import complete_login
from peers.tcp_proxy import tcp_proxy
from signin_helpers import bind, me, sso_site

from al_roster.models import Account
from al_roster.services.provider_documents import documents_for

FAST = dict(AL_ROSTER_HTTP_CONNECT_TIMEOUT=0.5, AL_ROSTER_HTTP_READ_TIMEOUT=0.5,
            AL_ROSTER_PROVIDER_RETRY_SECONDS=0.3, AL_ROSTER_PROVIDER_CACHE_SECONDS=300.0)
DID_NOT_ANSWER = "ClassLink did not answer; try again"


def account(sub, given, family, sourced_id, role="Student"):
    return {"sub": sub, "given_name": given, "family_name": family,
            "email": f"{given.lower()}@classlink.example",
            "info": {"UserId": int(sub), "TenantId": 456, "SourcedId": sourced_id, "Role": role}}


ACCOUNTS = [account("1001", "Ada", "Lovelace", "t-ada", "Teacher"),
            account("1010", "Grace", "Hopper", "t-grace", "Teacher"),
            account("2002", "Bo", "Pupil", "s-bo"), account("2003", "Cy", "Pupil", "s-cy")]


def port_of(url: str) -> int:
    return urlsplit(url).port


@pytest.fixture(scope="module")
def sso(tmp_path_factory):
    with sso_site(tmp_path_factory.mktemp("sso-providers"), ACCOUNTS) as site, \
            tcp_proxy(("127.0.0.1", port_of(site.op.issuer))) as proxy:
        site.proxy = proxy  # discovery, authorization pages, token, keys, user info
        site.app.config.update(
            AL_ROSTER_CLASSLINK_SERVER_METADATA_URL=proxy.url + "/.well-known/openid-configuration",
            AL_ROSTER_CLASSLINK_USERINFO_URL=proxy.url + "/v2/my/info")
        yield site


@pytest.fixture(scope="module")
def lti(tmp_path_factory):
    with tcp_proxy() as proxy:
        def through_proxy(platform):
            proxy.target = ("127.0.0.1", port_of(platform.base_url))
            return proxy.url + "/jwks"
        with lti_site(tmp_path_factory.mktemp("lti-providers"),
                      key_set_url=through_proxy) as site:
            site.proxy = proxy
            yield site


def fresh(site, **config):
    """No kept copies, fast limits, the proxy passing."""
    site.proxy.pass_()
    bind(site.app)
    site.app.config.update(FAST, **config)
    documents_for(site.app).clear()


def start(sso, browser):
    return browser.get(sso.base + "/roster/classlink/login", allow_redirects=False, timeout=30)


def sign_in(sso, account_id):
    browser = requests.Session()
    callback = complete_login(browser, start(sso, browser), account_id)
    return browser, browser.get(callback, allow_redirects=False, timeout=30)


def says(answer, text) -> bool:
    return text in html.unescape(answer.text)


def accounts_of(sourced_id: str) -> int:
    return Account.select().where(Account.sourced_id == sourced_id).count()


# -- ClassLink SSO -------------------------------------------------------------------------

def test_classlink_discovery_hanging_answers_503_fast_then_sign_in_resumes(sso):
    fresh(sso, AL_ROSTER_PROVIDER_RETRY_SECONDS=2.0)
    with sso.app.app_context():
        sso.proxy.hang()
        browser = requests.Session()
        began = time.monotonic()
        answer = start(sso, browser)
        waited = time.monotonic() - began
        assert answer.status_code == 503 and says(answer, DID_NOT_ANSWER), answer.text[:500]
        assert "Traceback" not in answer.text
        assert waited < 3  # the read timeout (0.5 s), not the library's 10 s or forever
        began = time.monotonic()
        again = start(sso, browser)  # within the retry pause: refused without waiting
        assert again.status_code == 503 and time.monotonic() - began < 0.4

        sso.proxy.pass_()
        time.sleep(2.1)
        browser, answer = sign_in(sso, "1001")
        assert answer.status_code == 302, answer.text[:500]
        assert me(browser, sso.base).json()["sourcedId"] == "t-ada"


@pytest.mark.parametrize(("fault", "path"), [("hang", b"/oauth2/v2/token"),
                                             ("drop", b"/oauth2/v2/token"),
                                             ("hang", b"/v2/my/info"),
                                             ("drop", b"/v2/my/info")])
def test_token_or_user_info_failing_at_the_callback_is_a_503_and_keeps_nothing(sso, fault, path):
    fresh(sso)
    with sso.app.app_context():
        before = accounts_of("s-cy")
        browser = requests.Session()
        callback = complete_login(browser, start(sso, browser), "2003")
        getattr(sso.proxy, fault)(when=path)
        began = time.monotonic()
        answer = browser.get(callback, allow_redirects=False, timeout=30)
        assert answer.status_code == 503 and says(answer, DID_NOT_ANSWER), answer.text[:500]
        assert time.monotonic() - began < 4
        assert me(browser, sso.base).status_code == 401
        assert accounts_of("s-cy") == before  # nobody was signed in, nothing was made

        sso.proxy.pass_()
        browser, answer = sign_in(sso, "2003")
        assert answer.status_code == 302
        assert me(browser, sso.base).json()["sourcedId"] == "s-cy"


def test_discovery_and_keys_are_fetched_again_after_their_ttl_and_stand_in_when_classlink_fails(
        sso):
    fresh(sso, AL_ROSTER_PROVIDER_CACHE_SECONDS=0.3)
    with sso.app.app_context():
        assert sign_in(sso, "1010")[1].status_code == 302  # the copies are made
        asked = sso.proxy.count(b"GET /.well-known/openid-configuration")
        keys_asked = sso.proxy.count(b"GET /oauth2/v2/jwks")
        time.sleep(0.4)
        # ClassLink's discovery and key set stop answering; its sign-in pages still work.
        sso.proxy.drop(when=(b"GET /.well-known/", b"GET /oauth2/v2/jwks"))
        browser, answer = sign_in(sso, "2002")
        assert answer.status_code == 302, answer.text[:500]
        assert me(browser, sso.base).json()["sourcedId"] == "s-bo"
        assert sso.proxy.count(b"GET /.well-known/openid-configuration") > asked  # asked again
        assert sso.proxy.count(b"GET /oauth2/v2/jwks") > keys_asked

        sso.proxy.pass_()
        time.sleep(0.4)
        asked = sso.proxy.count(b"GET /.well-known/openid-configuration")
        assert sign_in(sso, "1010")[1].status_code == 302
        assert sso.proxy.count(b"GET /.well-known/openid-configuration") > asked  # fresh again


# -- LTI platforms' key sets ---------------------------------------------------------------

@pytest.mark.parametrize("fault", ["hang", "drop"])
def test_a_key_set_that_cannot_be_fetched_and_is_not_kept_refuses_the_launch_with_why(
        lti, fault):
    fresh(lti)
    with lti.app.app_context():
        before = accounts_of("s-bo")
        getattr(lti.proxy, fault)()
        began = time.monotonic()
        browser, result = launch(lti, BO)
        answer = result.response
        assert answer.status_code == 503, answer.text[:500]
        assert says(answer, "did not answer when we asked for the keys")
        assert time.monotonic() - began < 4
        assert me(browser, lti.base).status_code == 401
        assert accounts_of("s-bo") == before  # nobody was signed in, nothing was made

        lti.proxy.pass_()
        time.sleep(0.4)  # past the retry pause
        browser, result = launch(lti, BO)
        assert result.response.status_code == 302
        assert me(browser, lti.base).json()["sourcedId"] == "s-bo"


def test_a_platform_key_set_is_fetched_again_after_its_ttl_and_stands_in_when_it_fails(lti):
    fresh(lti, AL_ROSTER_PROVIDER_CACHE_SECONDS=0.3)
    with lti.app.app_context():
        assert launch(lti, CY)[1].response.status_code == 302
        asked = lti.proxy.count(b"GET /jwks")
        time.sleep(0.4)
        lti.proxy.drop(when=b"GET /jwks")
        browser, result = launch(lti, ADA)
        assert result.response.status_code == 302, result.response.text[:500]
        assert me(browser, lti.base).json()["sourcedId"] == "t-ada"
        assert lti.proxy.count(b"GET /jwks") > asked  # it asked, and the copy stood in
