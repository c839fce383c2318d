"""Logging in to the dashboard: passwords, the session cookie, CSRF, logging out."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from click.testing import CliRunner

from evcsms.cli.main import cli
from evcsms.services.container import Services
from evcsms.services.errors import InvalidInputError, NotFoundError
from evcsms.services.users import UserRole
from tests.web.conftest import PASSWORD, csrf_of, log_in


async def test_set_password_and_login(services: Services) -> None:
    await services.users.create("bob", UserRole.OPERATOR)
    assert await services.users.login("bob", PASSWORD) is None  # no password yet
    with pytest.raises(InvalidInputError, match="at least 12"):
        await services.users.set_password("bob", "short")
    with pytest.raises(NotFoundError):
        await services.users.set_password("nobody", PASSWORD)
    await services.users.set_password("bob", PASSWORD)
    principal = await services.users.login("bob", PASSWORD)
    assert principal is not None and principal.name == "bob"
    assert principal.role is UserRole.OPERATOR
    assert await services.users.login("bob", PASSWORD + "x") is None
    assert await services.users.login("nobody", PASSWORD) is None


async def test_login_success_sets_a_safe_session_cookie(browser: httpx.AsyncClient,
                                                        operator: str) -> None:
    response = await log_in(browser, operator, PASSWORD)
    assert response.status_code == 303
    assert response.headers["location"] == "/ui/"
    cookie = response.headers["set-cookie"]
    assert "evcsms_session=" in cookie
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Max-Age=28800" in cookie
    page = await browser.get("/ui/")
    assert page.status_code == 200
    assert "alice" in page.text and "Log out" in page.text


async def test_login_failure_is_a_401_page_with_a_clear_message(browser: httpx.AsyncClient,
                                                                operator: str) -> None:
    response = await log_in(browser, operator, "wrong password!!")
    assert response.status_code == 401
    assert "Wrong user name or password." in response.text
    assert "evcsms_session" not in response.headers.get("set-cookie", "")
    assert (await browser.get("/ui/")).status_code == 303


async def test_login_without_csrf_token_is_refused(browser: httpx.AsyncClient,
                                                   operator: str) -> None:
    await browser.get("/ui/login")
    response = await browser.post("/ui/login", data={"username": operator, "password": PASSWORD})
    assert response.status_code == 403
    forged = await browser.post("/ui/login", data={
        "username": operator, "password": PASSWORD, "csrf_token": "guessed"})
    assert forged.status_code == 403
    assert (await browser.get("/ui/")).status_code == 303


async def test_logged_out_requests_redirect_to_login(browser: httpx.AsyncClient) -> None:
    for path in ("/ui/", "/ui", "/ui/?state=faulted"):
        response = await browser.get(path)
        assert response.status_code == 303, path
        assert response.headers["location"] == "/ui/login"
    assert (await browser.get("/ui/events")).status_code == 401
    forged = "eyJ1IjoxLCJlIjo5OTk5OTk5OTk5LCJuIjoiYWEifQ.AAAA"
    browser.cookies.set("evcsms_session", forged, path="/ui")
    assert (await browser.get("/ui/")).status_code == 303


async def test_logout_needs_post_and_csrf(logged_in: httpx.AsyncClient) -> None:
    assert (await logged_in.get("/ui/logout")).status_code == 405
    assert (await logged_in.post("/ui/logout", data={})).status_code == 403
    assert (await logged_in.get("/ui/")).status_code == 200
    token = csrf_of((await logged_in.get("/ui/")).text)
    response = await logged_in.post("/ui/logout", data={"csrf_token": token})
    assert response.status_code == 303 and response.headers["location"] == "/ui/login"
    assert (await logged_in.get("/ui/")).status_code == 303


async def test_a_new_password_ends_the_sessions(logged_in: httpx.AsyncClient,
                                                services: Services) -> None:
    assert (await logged_in.get("/ui/")).status_code == 200
    await services.users.set_password("alice", "another long password")
    assert (await logged_in.get("/ui/")).status_code == 303


def test_cli_set_password_from_the_environment(tmp_path: object) -> None:
    env = {"EVCSMS_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/cli.db"}
    assert CliRunner().invoke(cli, ["users", "create-operator", "carol"], env=env).exit_code == 0
    short = CliRunner().invoke(cli, ["users", "set-password", "carol"],
                               env=env | {"EVCSMS_NEW_PASSWORD": "short"})
    assert short.exit_code == 1 and "at least 12" in short.output
    prompted = CliRunner().invoke(cli, ["users", "set-password", "carol"], env=env,
                                  input=f"{PASSWORD}\n{PASSWORD}\n")
    assert prompted.exit_code == 0, prompted.output
    assert "password of carol set" in prompted.output


async def test_wrong_passwords_are_throttled_per_user_name(browser: httpx.AsyncClient,
                                                           operator: str) -> None:
    for _ in range(5):
        assert (await log_in(browser, operator, "wrong password!!")).status_code == 401
    refused = await log_in(browser, operator, PASSWORD)  # even the right one, for a while
    assert refused.status_code == 429
    assert "Too many failed logins" in refused.text
    assert 800 <= int(refused.headers["retry-after"]) <= 900
    assert "evcsms_session=" not in refused.headers.get("set-cookie", "")
    assert (await browser.get("/ui/")).status_code == 303  # still not logged in


async def test_a_good_login_clears_the_count(browser: httpx.AsyncClient,
                                             operator: str) -> None:
    for _ in range(4):
        assert (await log_in(browser, operator, "wrong password!!")).status_code == 401
    assert (await log_in(browser, operator, PASSWORD)).status_code == 303
    browser.cookies.clear()
    for _ in range(4):
        assert (await log_in(browser, operator, "wrong password!!")).status_code == 401
    assert (await log_in(browser, operator, PASSWORD)).status_code == 303


def test_throttle_window_per_address_and_memory_bound() -> None:
    from evcsms.web.throttle import LoginThrottle

    clock = [1000.0]
    throttle = LoginThrottle(per_user=2, per_address=3, window=60, max_keys=4,
                             now=lambda: clock[0])
    throttle.failed("a", "10.0.0.1")
    throttle.failed("b", "10.0.0.1")
    assert throttle.retry_after("c", "10.0.0.1") is None
    throttle.failed("c", "10.0.0.1")  # the address's third failure
    assert throttle.retry_after("d", "10.0.0.1") == 60
    assert throttle.retry_after("d", "10.0.0.2") is None
    clock[0] += 30
    assert throttle.retry_after("d", "10.0.0.1") == 30
    clock[0] += 31
    assert throttle.retry_after("d", "10.0.0.1") is None  # aged out
    for n in range(10):
        throttle.failed(f"user{n}", "10.0.0.9")
    assert len(throttle._failures) <= 4


def test_cli_create_driver_who_then_logs_in_to_the_portal(tmp_path: object) -> None:
    env = {"EVCSMS_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/cli.db"}
    unknown = CliRunner().invoke(cli, ["users", "create-driver", "dora", "--token", "TAG1"],
                                 env=env)
    assert unknown.exit_code == 1 and "TAG1" in unknown.output and "add them first" in unknown.output
    for tag in ("TAG1", "TAG2"):
        assert CliRunner().invoke(cli, ["tokens", "add", tag], env=env).exit_code == 0
    made = CliRunner().invoke(cli, ["users", "create-driver", "dora", "--token", "TAG1",
                                    "--token", "TAG2"], env=env)
    assert made.exit_code == 0, made.output
    assert "driver dora created, owning TAG1, TAG2" in made.output
    assert CliRunner().invoke(cli, ["users", "set-password", "dora"],
                              env=env | {"EVCSMS_NEW_PASSWORD": PASSWORD}).exit_code == 0

    async def check() -> None:
        from evcsms.bootstrap import build_services, close_services
        from evcsms.settings import Settings

        svc = await build_services(Settings(database_url=env["EVCSMS_DATABASE_URL"]))
        try:
            principal = await svc.users.login("dora", PASSWORD)
            assert principal is not None and principal.role is UserRole.DRIVER
            assert await svc.drivers.tokens(principal.user_id) == ["TAG1", "TAG2"]
        finally:
            await close_services(svc)

    asyncio.run(check())


async def test_a_driver_lands_on_the_portal_and_is_kept_out_of_operator_pages(
        browser: httpx.AsyncClient, services: Services) -> None:
    await services.tokens.create("TAG9")
    await services.drivers.create("dora", ["TAG9"])
    await services.users.set_password("dora", PASSWORD)
    response = await log_in(browser, "dora", PASSWORD)
    assert response.status_code == 303 and response.headers["location"] == "/ui/me/"
    for path in ("/ui/", "/ui/incidents", "/ui/sessions", "/ui/billing", "/ui/stations/CP1"):
        page = await browser.get(path)
        assert page.status_code == 403, path
        assert "Operators only" in page.text
    assert (await browser.get("/ui/events")).status_code == 401
    assert (await browser.get("/ui/login")).headers["location"] == "/ui/me/"
