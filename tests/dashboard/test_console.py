"""The dashboard in a real browser (Debian's chromium through playwright) against a running `kumo serve`: sign-in,
analytics that move when requests are made, the log explorer, a gateway setting that takes effect, a streamed
chat, an index created and queried, an AI Search answer with its sources, sign-out, and cross-site refusals."""

from __future__ import annotations

import http.server
import re
import threading
import uuid

import httpx
import pytest
from playwright.sync_api import expect

from tests.conftest import free_port
from tests.dashboard.conftest import ADMIN_TOKEN, TEAM_TOKEN, screenshot, sign_in


def _account() -> str:
    return "dash-" + uuid.uuid4().hex[:8]


def _make_gateway(api: httpx.Client, account: str, gateway: str) -> None:
    r = api.post(f"/client/v4/accounts/{account}/ai-gateway/gateways",
                 json={"id": gateway, "cache_invalidate_on_update": False, "cache_ttl": None, "collect_logs": True,
                       "rate_limiting_interval": None, "rate_limiting_limit": None})
    assert r.status_code == 200, r.text


def _chat(url: str, account: str, gateway: str, prompt: str, fail: bool = False, model: str = "gpt-4o-mini",
          metadata: str | None = None) -> httpx.Response:
    headers = {"authorization": "Bearer sk-upstream"}
    if fail:
        headers["x-fake"] = "400"
    if metadata:
        headers["cf-aig-metadata"] = metadata
    return httpx.post(f"{url}/v1/{account}/{gateway}/openai/chat/completions", headers=headers, timeout=30,
                      json={"model": model, "messages": [{"role": "user", "content": prompt}]})


def test_sign_in_keeps_a_session_not_the_token_and_switches_accounts(console, page):
    page.goto(f"{console.url}/dashboard/team-a/ai-gateway")
    expect(page).to_have_url(re.compile(r"/dashboard/sign-in\?next="))  # no cookie: sent to sign in
    page.get_by_label("API token").fill("not-a-token")
    page.get_by_label("Account id").fill("team-a")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#token-error")).to_have_text("Unknown API token.")  # the error sits by its field
    page.get_by_label("API token").fill(TEAM_TOKEN)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{console.url}/dashboard/team-a/ai-gateway")  # back where the visitor wanted to go
    cookie = next(c for c in page.context.cookies() if c["name"] == "kumo_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and TEAM_TOKEN not in cookie["value"]
    assert TEAM_TOKEN not in page.content() and TEAM_TOKEN not in page.url
    assert page.evaluate("document.cookie") == ""  # no script can read the session
    page.get_by_label("Account").select_option("team-b")
    page.get_by_role("button", name="Switch").click()
    expect(page).to_have_url(f"{console.url}/dashboard/team-b")
    response = page.goto(f"{console.url}/dashboard/other-team/ai-gateway")
    assert response.status == 403 and "may not act on account other-team" in page.content()


def test_analytics_change_after_requests(console, api, page):
    account = _account()
    _make_gateway(api, account, "prod")
    sign_in(page, console.url, account)
    page.goto(f"{console.url}/dashboard/{account}/ai-gateway/prod?window=1h")
    expect(page.locator("#total-requests")).to_have_text("0")
    for i in range(4):
        assert _chat(console.url, account, "prod", f"hello {i}").status_code == 200
    assert _chat(console.url, account, "prod", "broken", fail=True).status_code == 400
    assert httpx.post(f"{console.url}/v1/{account}/prod/anthropic/v1/messages", headers={"x-api-key": "k"},
                      json={"model": "claude-3-5-haiku-latest", "max_tokens": 5, "messages": []}).status_code == 200
    page.reload()
    expect(page.locator("#total-requests")).to_have_text("6")
    expect(page.locator("#total-errors")).to_have_text("1")
    assert page.locator("svg[role=img]").count() == 5
    expect(page.get_by_role("cell", name="gpt-4o-mini")).to_be_visible()  # the by-model table
    expect(page.get_by_role("cell", name="claude-3-5-haiku-latest")).to_be_visible()
    screenshot(page, "gateway-analytics")
    for window in ("24h", "7d", "30d"):
        page.get_by_role("link", name=f"Last {window}").click()
        expect(page.locator("#total-requests")).to_have_text("6")


def test_filter_logs_open_one_and_give_feedback(console, api, page):
    account = _account()
    _make_gateway(api, account, "logs")
    for i in range(3):
        _chat(console.url, account, "logs", f"fine {i}", metadata='{"team": "blue"}')
    _chat(console.url, account, "logs", "this one fails", fail=True)
    _chat(console.url, account, "logs", "other model", model="gpt-4o")
    sign_in(page, console.url, account)
    page.goto(f"{console.url}/dashboard/{account}/ai-gateway/logs/logs")
    rows = page.locator("#log-table tbody tr")
    expect(rows).to_have_count(5)
    page.get_by_label("Status").select_option("errors")
    page.get_by_role("button", name="Filter").click()
    expect(rows).to_have_count(1)
    page.get_by_label("Status").select_option("")
    page.get_by_label("Model").fill("gpt-4o")
    page.get_by_role("button", name="Filter").click()
    expect(rows).to_have_count(1)
    page.get_by_label("Model").fill("gpt-4o-mini")
    page.get_by_label("Metadata key").fill("team")
    page.get_by_role("button", name="Filter").click()
    expect(rows).to_have_count(3)  # the failed request had no metadata
    rows.first.get_by_role("link").click()
    expect(page.locator("#request-body")).to_contain_text("fine 2")
    expect(page.locator("#response-body")).to_contain_text("choices")
    page.get_by_label("Feedback", exact=True).select_option("1")
    page.get_by_label("Score (0-100)").fill("80")
    page.get_by_role("button", name="Save feedback").click()
    expect(page.get_by_label("Score (0-100)")).to_have_value("80")
    expect(rows).to_have_count(3)  # the filters survived the save
    log_id = page.url.split("log=")[1]
    logged = api.get(f"/client/v4/accounts/{account}/ai-gateway/gateways/logs/logs/{log_id}").json()["result"]
    assert logged["feedback"] == 1 and logged["score"] == 80
    screenshot(page, "gateway-logs")
    # the live tail puts new requests on top without a reload
    page.get_by_role("link", name="Clear").click()
    expect(rows).to_have_count(5)
    page.get_by_role("button", name="Start live tail").click()
    expect(page.locator("#tail-status")).to_contain_text("Tailing")
    _chat(console.url, account, "logs", "tailed")
    expect(rows).to_have_count(6, timeout=10_000)


def test_a_setting_saved_in_the_dashboard_takes_effect(console, api, page):
    account = _account()
    _make_gateway(api, account, "limited")
    sign_in(page, console.url, account)
    page.goto(f"{console.url}/dashboard/{account}/ai-gateway/limited/settings")
    page.get_by_label("Requests allowed").fill("two")
    page.get_by_role("button", name="Save settings").click()
    expect(page.locator("#e-rate_limiting_limit")).to_contain_text("whole number")  # next to its field
    page.get_by_label("Requests allowed").fill("2")
    page.get_by_role("button", name="Save settings").click()
    expect(page.locator("#e-rate_limiting_limit")).to_contain_text("go together")  # the service's rule, by the field
    page.get_by_label("Per interval (seconds)").fill("60")
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_role("status")).to_contain_text("Saved")
    screenshot(page, "gateway-settings")
    codes = [_chat(console.url, account, "limited", f"q{i}").status_code for i in range(3)]
    assert codes == [200, 200, 429]


def test_chat_streams_in_the_playground(console, page):
    account = _account()
    sign_in(page, console.url, account)
    page.goto(f"{console.url}/dashboard/{account}/workers-ai/playground?model=%40cf%2Fmeta%2Fllama-3.2-1b-instruct")
    expect(page.get_by_label("Model").first).to_have_value("@cf/meta/llama-3.2-1b-instruct")
    page.get_by_label("Prompt", exact=True).fill("Name three colours.")
    page.get_by_label("Max tokens").fill("24")
    with page.expect_response(lambda r: r.url.endswith("/workers-ai/chat")) as answered:
        page.get_by_role("button", name="Send").click()
    assert answered.value.headers["content-type"].startswith("text/event-stream")
    expect(page.locator("#chat-status")).to_contain_text("Done", timeout=60_000)
    assert len(page.locator("#chat-output").inner_text().strip()) > 3
    screenshot(page, "workers-ai-playground")


def test_create_an_index_add_texts_and_query_it(console, page):
    account = _account()
    sign_in(page, console.url, account)
    page.goto(f"{console.url}/dashboard/{account}/vectorize")
    page.get_by_label("Name").fill("notes")
    page.get_by_label("Preset (embedding model)").select_option("@cf/baai/bge-small-en-v1.5")
    page.get_by_role("button", name="Create index").click()
    expect(page).to_have_url(f"{console.url}/dashboard/{account}/vectorize/notes")
    page.get_by_label("Texts, one per line").fill(
        "Cats sleep most of the day.\nRockets burn kerosene and liquid oxygen.\nBread needs flour, water and yeast.")
    page.get_by_label("More metadata (JSON)").fill('{"lang": "en"}')
    page.get_by_role("button", name="Embed and upsert").click()
    expect(page.get_by_role("status")).to_contain_text("Added 3 vectors")
    expect(page.locator("#vectors tbody tr")).to_have_count(3)  # the vector browser
    page.get_by_label("Text (embedded, then searched)").fill("what do felines do all day?")
    page.get_by_role("button", name="Query").click()
    expect(page.locator("#matches tbody tr").first).to_contain_text("Cats sleep")
    screenshot(page, "vectorize-index")
    page.get_by_label("Metadata filter (JSON)").fill('{"lang": {"$eq": "fr"}}')
    page.get_by_role("button", name="Query").click()
    expect(page.locator("#matches tbody tr")).to_have_count(1)
    expect(page.locator("#matches")).to_contain_text("No match")
    page.get_by_label("Metadata filter (JSON)").fill("{not json")
    page.get_by_role("button", name="Query").click()
    expect(page.locator("#q-filter-error")).to_contain_text("must be JSON")


def test_ask_an_ai_search_instance_and_see_the_sources(console, page, tmp_path):
    from cloudflare import Cloudflare

    account = _account()
    sign_in(page, console.url, account)
    page.goto(f"{console.url}/dashboard/{account}/ai-search")
    page.get_by_label("Instance id").fill("pets")
    page.get_by_role("button", name="Create").click()
    expect(page).to_have_url(f"{console.url}/dashboard/{account}/ai-search/default/pets")
    cats = tmp_path / "cats.md"
    cats.write_text("# Cats\n\nCats sleep for about fifteen hours every day.")
    page.get_by_label("Upload a file").set_input_files(str(cats))
    page.get_by_role("button", name="Upload and index").click()
    expect(page.get_by_role("status")).to_contain_text("cats.md: completed", timeout=60_000)
    cf = Cloudflare(api_token=ADMIN_TOKEN, base_url=console.url + "/client/v4", max_retries=0)
    cf.aisearch.namespaces.instances.items.upload("pets", account_id=account, name="default", file={
        "file": ("rockets.md", b"# Rockets\n\nRockets burn kerosene with liquid oxygen."), "wait_for_completion": True})
    cf.close()
    page.goto(f"{console.url}/dashboard/{account}/ai-search")
    page.get_by_role("link", name="pets").click()
    expect(page.locator("#items tbody tr")).to_have_count(2)
    page.get_by_label("Upload a file").set_input_files({"name": "notes.exe", "mimeType": "application/octet-stream",
                                                        "buffer": b"MZ"})
    page.get_by_role("button", name="Upload and index").click()
    expect(page.locator("#item-error")).to_be_visible()  # refused, next to the field
    page.get_by_label("Question").fill("How long do cats sleep every day?")
    page.get_by_role("button", name="Run").click()
    expect(page.locator("#answer")).not_to_be_empty(timeout=60_000)
    expect(page.locator("#sources li").first).to_contain_text("cats.md")
    screenshot(page, "ai-search")


def test_sign_out_ends_the_session(console, page):
    account = _account()
    sign_in(page, console.url, account)
    expect(page).to_have_url(f"{console.url}/dashboard/{account}")
    screenshot(page, "overview")
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(f"{console.url}/dashboard/sign-in")
    page.goto(f"{console.url}/dashboard/{account}/vectorize")
    expect(page).to_have_url(re.compile(r"/dashboard/sign-in"))


class _Attacker(http.server.BaseHTTPRequestHandler):
    form = b""

    def do_GET(self):  # noqa: N802
        self.send_response(200)
        self.send_header("content-type", "text/html")
        self.end_headers()
        self.wfile.write(self.form)

    def log_message(self, *args):
        pass


@pytest.fixture
def attacker():
    """A page on another site (localhost is not the same site as 127.0.0.1) that posts a form to kumo."""
    port = free_port()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), _Attacker)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://localhost:{port}"
    server.shutdown()


def test_a_cross_site_post_is_refused(console, api, page, attacker):
    account = _account()
    _make_gateway(api, account, "target")
    sign_in(page, console.url, account)
    target = f"{console.url}/dashboard/{account}/ai-gateway/target/settings"
    _Attacker.form = (f'<form method="post" action="{target}"><input name="cache_ttl" value="999">'
                      '<input name="collect_logs" value="on"><input name="csrf" value="guessed"></form>'
                      '<script>document.forms[0].submit()</script>').encode()
    with page.expect_navigation(url=target):
        page.goto(attacker)
    assert "refused" in page.content().lower() or "not signed in" in page.content().lower()
    gateway = api.get(f"/client/v4/accounts/{account}/ai-gateway/gateways/target").json()["result"]
    assert gateway["cache_ttl"] in (None, 0)  # nothing changed


def test_speech_upload_in_the_playground(console, page, tmp_path):
    from tests.ai.conftest import asset

    account = _account()
    sign_in(page, console.url, account)
    page.goto(f"{console.url}/dashboard/{account}/workers-ai/playground")
    audio = tmp_path / "beckett.wav"
    audio.write_bytes(asset("beckett.wav"))
    page.get_by_label("Audio file").set_input_files(str(audio))
    page.get_by_role("button", name="Transcribe").click()
    expect(page.locator("#transcript")).to_contain_text(re.compile("fail", re.I), timeout=60_000)


LABELLED = """() => Array.from(document.querySelectorAll('input:not([type=hidden]), select, textarea, button'))
    .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label') && !el.textContent.trim())
    .map(el => el.outerHTML)"""


def test_every_control_has_a_name_and_keyboard_reaches_the_navigation(console, api, page):
    account = _account()
    _make_gateway(api, account, "a11y")
    _chat(console.url, account, "a11y", "hi")
    sign_in(page, console.url, account)
    base = f"{console.url}/dashboard/{account}"
    for path in ("", "/ai-gateway", "/ai-gateway/a11y", "/ai-gateway/a11y/logs", "/ai-gateway/a11y/settings",
                 "/workers-ai", "/workers-ai/playground", "/vectorize", "/ai-search"):
        page.goto(base + path)
        assert page.evaluate(LABELLED) == [], path
        assert page.locator("h1").count() == 1, path
    page.goto(base)
    page.keyboard.press("Tab")  # the first stop is the skip link, then the navigation
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{base}/ai-gateway")
