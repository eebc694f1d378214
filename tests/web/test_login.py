"""Login through the homeserver, sessions, CSRF and rate limits (issue 22, item 4)."""

from __future__ import annotations

import pytest

from consultbot.engine.web.context import SESSION_COOKIE
from consultbot.engine.web.sessions import RateLimit, Sessions

from .conftest import Site


def cookie_header(answer: object, name: str) -> str:
    headers = answer.headers.getall("Set-Cookie", [])  # type: ignore[attr-defined]
    return next(h for h in headers if h.startswith(name + "="))


@pytest.mark.parametrize("path", ["/", "/live", "/events", "/print/phones", "/chart.png", "/x"])
async def test_no_page_and_no_data_without_a_login(site: Site, path: str) -> None:
    answer = await site.get(path)
    assert answer.status in (303, 401)
    if answer.status == 303:
        assert answer.headers["Location"] == "/login"
    body = await answer.text()
    assert "Karin" not in body and "070-111" not in body
    script = await site.client.get(path, headers={"Accept": "*/*"}, allow_redirects=False)
    assert script.status == 401  # what a script fetches is refused, not redirected


async def test_the_login_form_and_the_style_sheet_need_no_login(site: Site) -> None:
    assert (await site.get("/login")).status == 200
    assert (await site.get("/static/board.css")).status == 200


async def test_a_password_the_homeserver_accepts_starts_a_strict_http_only_session(
    site: Site,
) -> None:
    answer = await site.log_in("anna", "rätt lösen")
    assert answer.status == 303 and answer.headers["Location"] == "/"
    cookie = cookie_header(answer, SESSION_COOKIE)
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Max-Age=3600" in cookie
    assert "Secure" not in cookie  # plain http on loopback: a Secure cookie would not come back
    assert site.fake.asked == ["@anna:localhost"]  # a localpart is on the bot's own server
    board = await site.get("/")
    text = await board.text()
    assert board.status == 200 and "Karin Kardio" in text and 'href="tel:+46701111111"' in text


async def test_behind_tls_the_session_cookie_is_secure(site: Site) -> None:
    answer = await site.log_in(
        "@anna:localhost", "rätt lösen", headers={"X-Forwarded-Proto": "https"}
    )
    assert "Secure" in cookie_header(answer, SESSION_COOKIE)


async def test_a_wrong_password_is_refused_and_no_session_starts(site: Site) -> None:
    answer = await site.log_in("anna", "fel")
    assert answer.status == 401
    assert "Fel användarnamn eller lösenord." in await answer.text()
    assert (await site.get("/")).status == 303


async def test_a_user_on_another_server_is_refused_before_the_password_goes_anywhere(
    site: Site,
) -> None:
    answer = await site.log_in("@eve:elsewhere.example", "whatever")
    assert answer.status == 403
    assert "Bara konton på localhost kan logga in." in await answer.text()
    assert site.fake.asked == []


async def test_a_login_without_the_forms_token_is_refused(site: Site) -> None:
    form = {"csrf": "forged", "user": "anna", "password": "rätt lösen"}
    answer = await site.client.post("/login", data=form, allow_redirects=False)
    assert answer.status == 403 and site.fake.asked == []


async def test_wrong_passwords_for_one_user_lock_that_user_for_a_while(site: Site) -> None:
    for _ in range(5):
        assert (await site.log_in("anna", "fel")).status == 401
    answer = await site.log_in("anna", "rätt lösen")
    assert answer.status == 429 and "För många försök" in await answer.text()
    assert (await site.log_in("@admin:localhost", "admin lösen")).status == 303


async def test_attempts_from_one_address_are_limited(site: Site) -> None:
    for n in range(20):
        await site.log_in(f"user{n}", "fel")
    assert (await site.log_in("anna", "rätt lösen")).status == 429


async def test_logout_needs_the_sessions_token_and_ends_the_session(site: Site) -> None:
    await site.log_in("anna", "rätt lösen")
    refused = await site.client.post("/logout", data={"csrf": "x"}, allow_redirects=False)
    assert refused.status == 403
    assert (await site.get("/")).status == 200
    token = next(iter(site.board.sessions._sessions.values())).csrf
    answer = await site.client.post("/logout", data={"csrf": token}, allow_redirects=False)
    assert answer.status == 303 and answer.headers["Location"] == "/login?out=1"
    assert len(site.board.sessions) == 0
    assert (await site.get("/")).status == 303


async def test_an_expired_session_asks_for_a_new_login(site: Site) -> None:
    now = [0.0]
    site.board.sessions = Sessions(60, now=lambda: now[0])
    await site.log_in("anna", "rätt lösen")
    assert (await site.get("/")).status == 200
    now[0] = 60.0
    assert (await site.get("/")).status == 303


async def test_sso_goes_to_the_homeserver_and_its_token_starts_a_session(site: Site) -> None:
    site.fake.sso = True
    assert "/login/sso" in await (await site.get("/login")).text()
    away = await site.get("/login/sso")
    assert away.status == 302 and away.headers["Location"].startswith("https://matrix.example/")
    back = away.headers["Location"].split("redirectUrl=", 1)[1]
    state = back.split("state=", 1)[1]
    forged = await site.get("/login/sso/done?state=other&loginToken=token-@anna:localhost")
    assert forged.status == 403
    done = await site.get(f"/login/sso/done?state={state}&loginToken=token-@anna:localhost")
    assert done.status == 200 and SESSION_COOKIE in done.cookies
    assert (await site.get("/")).status == 200
    again = await site.get(f"/login/sso/done?state={state}&loginToken=token-@anna:localhost")
    assert again.status == 403  # a state is good for one round trip


async def test_sso_for_a_user_on_another_server_is_refused(site: Site) -> None:
    away = await site.get("/login/sso")
    state = away.headers["Location"].split("state%3D", 1)[-1].split("state=", 1)[-1]
    done = await site.get(f"/login/sso/done?state={state}&loginToken=token-@eve:elsewhere.example")
    assert done.status == 403 and SESSION_COOKIE not in done.cookies


def test_a_rate_limit_forgets_attempts_older_than_its_window() -> None:
    now = [0.0]
    limit = RateLimit(2, 10.0, now=lambda: now[0])
    limit.hit("a")
    limit.hit("a")
    assert not limit.allows("a") and limit.allows("b")
    now[0] = 10.0
    assert limit.allows("a")


async def test_an_sso_return_address_works_only_in_the_browser_that_went_to_sso(
    site: Site,
) -> None:
    """A link with someone else's state and login token (an attacker's own SSO round trip,
    sent to a victim) does not log the clicker in as that someone."""
    site.fake.sso = True
    away = await site.get("/login/sso")
    state = away.headers["Location"].split("state=", 1)[1]
    site.client.session.cookie_jar.clear()  # another browser: it never went to SSO
    done = await site.get(f"/login/sso/done?state={state}&loginToken=token-@anna:localhost")
    assert done.status == 403 and SESSION_COOKIE not in done.cookies
    assert (await site.get("/")).status == 303


async def test_the_homeservers_own_login_limit_says_wait_not_down(site: Site) -> None:
    """Every board login comes from the bot's address: a homeserver's 429 is "too many
    attempts, wait", not "the homeserver is not answering"."""
    site.fake.busy = True
    answer = await site.log_in("anna", "rätt lösen")
    assert answer.status == 429 and "För många försök" in await answer.text()
