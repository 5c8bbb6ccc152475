"""A `kumo serve` with API tokens (one for every account, one for two accounts) whose gateway talks to the fake
provider, and Debian's chromium driven by playwright (never `playwright install`: it downloads)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import httpx
import pytest

from tests.conftest import PROVIDER_SLUGS, Server

ADMIN_TOKEN = "tok-admin-5d1c0b"  # every account
TEAM_TOKEN = "tok-team-93ae41"  # accounts team-a and team-b only
CHROMIUM = os.environ.get("KUMO_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = os.environ.get("KUMO_DASHBOARD_SCREENSHOTS")  # a directory: the browser tests save pages there


@pytest.fixture(scope="session")
def console(tmp_path_factory, fake):
    env = {"KUMO_UPSTREAM_" + slug.upper().replace("-", "_"): fake.url for slug in PROVIDER_SLUGS}
    env["KUMO_API_TOKENS"] = f"{ADMIN_TOKEN},{TEAM_TOKEN}:team-a|team-b"
    srv = Server(tmp_path_factory.mktemp("console") / "data", env=env).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def api(console):
    with httpx.Client(base_url=console.url, headers={"authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=120) as c:
        yield c


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        pytest.skip("Debian's chromium is not installed (scripts/test-services.sh installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium"),
                                    args=["--headless", "--no-sandbox", "--disable-gpu",
                                          "--disable-background-networking"])
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    context.set_default_timeout(30_000)
    page = context.new_page()
    yield page
    context.close()


def sign_in(page, url: str, account: str, token: str = ADMIN_TOKEN, next_path: str | None = None) -> None:
    page.goto(f"{url}{next_path or '/dashboard/sign-in'}")
    page.get_by_label("API token").fill(token)
    page.get_by_label("Account id").fill(account)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def screenshot(page, name: str) -> None:
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SCREENSHOTS) / f"dashboard-{name}.png"))
