"""Issue 10's attacks on account linking, replayed over real HTTP against a served app.

Two browsers are two ``requests`` sessions (each with its own cookie jar); the fake Mapillary
plays the consent screen. Whatever the attacker does, the victim's Mapillary tokens must be
stored nowhere and their code never exchanged.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from fake_mapillary import FakeMapillary, fake_mapillary_fixture  # noqa: F401
from helpers import GEOAPI, bearer, free_port, geoapi_env, geoapi_serve, serve_in_thread
from mapillary_support import (  # noqa: F401
    AppFactory,
    make_mapillary_app_fixture,
)
from sqlalchemy import Engine, text

MakeUser = Any


@pytest.fixture(name="base")
def base_fixture(make_mapillary_app: AppFactory) -> Iterator[str]:
    with serve_in_thread(make_mapillary_app()) as base:
        yield base


def _accounts(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(text("SELECT * FROM mapillary_accounts")).all())


def _start(base: str, token: str, browser: requests.Session) -> str:
    answer = browser.post(f"{base}/auth/mapillary/login", headers=bearer(token), timeout=5)
    assert answer.status_code == 200, answer.text
    url: str = answer.json()["authorize_url"]
    return url


def _consent(browser: requests.Session, authorize_url: str) -> requests.Response:
    """Consent at the fake's /connect, which redirects to our callback; follow it."""
    return browser.get(authorize_url, timeout=5, headers={"Accept": "application/json"})


def test_an_authorize_url_handed_to_a_victim_links_nothing(
    base: str, fake_mapillary: FakeMapillary, make_user: MakeUser, engine: Engine
) -> None:
    _bob, bob_token = make_user("bob")
    bob_browser, victim_browser = requests.Session(), requests.Session()
    authorize_url = _start(base, bob_token, bob_browser)
    fake_mapillary.authorizing_user = fake_mapillary.add_user("malice")  # the victim consents
    answer = _consent(victim_browser, authorize_url)
    assert answer.status_code == 400
    assert answer.headers["Content-Type"] == "application/problem+json"
    assert "started in another browser" in answer.json()["detail"]
    assert _accounts(engine) == []
    assert fake_mapillary.calls("/token") == []  # malice's code was never exchanged
    assert fake_mapillary.tokens.keys() == {fake_mapillary.token}  # no token was ever issued
    linked = bob_browser.get(f"{base}/api/v1/mapillary/account", headers=bearer(bob_token))
    assert linked.json()["linked"] is False


def test_a_callback_without_the_cookie_links_nothing(
    base: str, fake_mapillary: FakeMapillary, make_user: MakeUser, engine: Engine
) -> None:
    _bob, token = make_user("bob")
    browser = requests.Session()
    authorize_url = _start(base, token, browser)
    with requests.get(authorize_url, allow_redirects=False, timeout=5) as consent:
        callback = consent.headers["Location"]
    # The callback URL (state and code) replayed by a client that holds no cookie.
    answer = requests.get(callback, timeout=5)
    assert answer.status_code == 400 and _accounts(engine) == []
    assert fake_mapillary.calls("/token") == []
    # The browser that started it can still finish: the refused attempt did not burn it.
    finished = browser.get(callback, timeout=5)
    assert finished.status_code == 200 and len(_accounts(engine)) == 1


def test_a_state_works_once(
    base: str, fake_mapillary: FakeMapillary, make_user: MakeUser, engine: Engine
) -> None:
    _bob, token = make_user("bob")
    browser = requests.Session()
    authorize_url = _start(base, token, browser)
    with browser.get(authorize_url, allow_redirects=False, timeout=5) as consent:
        callback = consent.headers["Location"]
    cookies = browser.cookies.copy()
    assert browser.get(callback, timeout=5).status_code == 200
    replay = requests.get(callback, cookies=cookies, timeout=5)  # the very same cookie too
    assert replay.status_code == 400
    assert "already" in replay.json()["detail"]
    assert len(fake_mapillary.calls("/token")) == 1


def test_a_forged_state_links_nothing(
    base: str, fake_mapillary: FakeMapillary, make_user: MakeUser, engine: Engine
) -> None:
    user, token = make_user("bob")
    browser = requests.Session()
    authorize_url = _start(base, token, browser)
    with browser.get(authorize_url, allow_redirects=False, timeout=5) as consent:
        query = parse_qs(urlsplit(consent.headers["Location"]).query)
    state = query["state"][0]
    tampered = state[:10] + ("B" if state[10] == "A" else "A") + state[11:]  # one bit or more
    for forged in (str(user.id), user.id.hex, "x" * 43, tampered):
        answer = browser.get(
            f"{base}/auth/mapillary/callback",
            params={"state": forged, "code": query["code"][0]},
            timeout=5,
        )
        assert answer.status_code == 400, forged
        assert answer.json()["errors"][0]["field"] == "state"
    assert _accounts(engine) == [] and fake_mapillary.calls("/token") == []


def test_a_foreign_host_is_refused(make_mapillary_app: AppFactory) -> None:
    with serve_in_thread(make_mapillary_app()) as base:
        evil = requests.get(f"{base}/", headers={"Host": "evil.example"}, timeout=5)
        assert evil.status_code == 400
        assert evil.headers["Content-Type"] == "application/problem+json"
        assert "evil.example" in evil.json()["detail"]
        assert requests.get(f"{base}/", timeout=5).status_code == 200  # 127.0.0.1 is trusted


def test_trusted_hosts_are_configurable(make_mapillary_app: AppFactory) -> None:
    app = make_mapillary_app(TRUSTED_HOSTS="geo.example, .maps.example")
    client = app.test_client()
    for host, status in (
        ("geo.example", 200),
        ("tiles.maps.example", 200),
        ("localhost", 400),
        ("geo.example.evil", 400),
    ):
        assert client.get("/conformance", headers={"Host": host}).status_code == status, host
    # With a public URL, links never come from Host: any host is answered.
    public = make_mapillary_app(PUBLIC_URL="https://geo.example").test_client()
    answer = public.get("/", headers={"Host": "evil.example"})
    assert answer.status_code == 200
    assert "evil.example" not in answer.get_data(as_text=True)


# --- the served command ------------------------------------------------------------------


def _env(database_url: str, fake: FakeMapillary, **extra: str) -> dict[str, str]:
    return geoapi_env(
        database_url,
        GEOAPI_MAPILLARY_CLIENT_ID=fake.client_id,
        GEOAPI_MAPILLARY_CLIENT_SECRET=fake.client_secret,
        GEOAPI_MAPILLARY_API_V4_URL=fake.url,
        GEOAPI_MAPILLARY_AUTHORIZE_URL=f"{fake.url}/connect",
        GEOAPI_MAPILLARY_TOKEN_URL=f"{fake.url}/token",
        OAUTHLIB_INSECURE_TRANSPORT="1",
        **extra,
    )


def test_serve_refuses_to_start_without_a_secret(
    database_url: str, fake_mapillary: FakeMapillary
) -> None:
    for secret in ("", "short", "dev-only-change-me"):
        for command in (["serve", "--port", str(free_port())], ["worker", "--once"]):
            done = subprocess.run(
                [GEOAPI, *command],
                env=_env(database_url, fake_mapillary, GEOAPI_SECRET_KEY=secret),
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert done.returncode != 0, (command, secret)
            last = done.stderr.strip().splitlines()[-1]
            assert "GEOAPI_SECRET_KEY" in last and "secrets.token_urlsafe" in last, last


def test_no_state_or_code_reaches_the_access_log(
    database_url: str, fake_mapillary: FakeMapillary, make_user: MakeUser, engine: Engine
) -> None:
    """A whole link through `geoapi serve` (nginx, gunicorn's access log on): no state, no
    code in the output."""
    _bob, token = make_user("bob")
    env = _env(database_url, fake_mapillary)
    with geoapi_serve(env, "--workers", "1", "--threads", "2") as served:
        browser = requests.Session()
        authorize_url = _start(served.base, token, browser)
        with browser.get(authorize_url, allow_redirects=False, timeout=5) as consent:
            callback = consent.headers["Location"]
        assert browser.get(callback, timeout=5).status_code == 200
        assert len(_accounts(engine)) == 1
    query = parse_qs(urlsplit(callback).query)
    state, code = query["state"][0], query["code"][0]
    assert "GET /auth/mapillary/callback?" in served.output  # the request was logged ...
    assert state not in served.output and code not in served.output  # ... without its secrets
    assert "state=***" in served.output and "code=***" in served.output
