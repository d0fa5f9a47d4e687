"""The status page in a real headless browser (Debian chromium): log in, read it, screenshot it."""

from __future__ import annotations

import os
import shutil
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from PIL import Image, ImageStat
from playwright.sync_api import Browser, Page

from tests.engine.sequence_world import sequence_config
from tests.engine.world import reply
from tests.web.world import ADMIN_TOKEN, web_settings, world
from threadline.connector.demo.world import REP
from threadline.sandbox.faults import Fault
from threadline.sandbox.server import SandboxServer
from threadline.sync.work.cursors import record_error

HOSTILE = '<img src=x onerror="document.title=\'pwned\'"><script>document.title="pwned"</script> & "Buyer"'


def busy_world(sandbox: SandboxServer, sqlite_url: str, tmp_path: Path) -> dict[str, Any]:
    """A sequence that enrols every contact, a reply, then a Gmail mailbox that fails every call."""
    owner = sandbox.hubspot.add_owner(REP, first_name="Alex", last_name="Rep")
    for i in range(3):
        sandbox.hubspot.add_contact(f"buyer{i}@customer{i}.example", owner_id=owner, firstname=f"Buyer{i}")
    rules = {"sequences": [sequence_config(steps=2)]}
    return {"settings": web_settings(sandbox, sqlite_url, tmp_path, poll="0.3s", readiness_floor="2s", owner_id=owner,
                                     rules=rules,
                                     public_url="http://127.0.0.1", unsubscribe_secret="unsubscribe-secret-for-tests")}


def log_in(page: Page, url: str) -> None:
    page.goto(f"{url}/status")
    assert page.url == f"{url}/login"                              # no session: sent to the form
    page.fill("input[name=token]", "not-the-token")
    page.click("button[type=submit]")
    assert page.locator("#login-error").is_visible()
    page.fill("input[name=token]", ADMIN_TOKEN)
    page.click("button[type=submit]")
    page.wait_for_url(f"{url}/status")


def check_screenshot(png: Path) -> None:
    """A real rendering: laptop-sized, and not blank (varied pixels, many colours)."""
    with Image.open(png) as image:
        assert image.format == "PNG" and image.width == 1280 and 600 <= image.height <= 6000
        grey = image.convert("L")
        assert ImageStat.Stat(grey).stddev[0] > 15
        assert len(image.convert("RGB").getcolors(maxcolors=1 << 20) or []) > 50
    artifacts = os.environ.get("THREADLINE_ARTIFACTS")
    if artifacts:
        Path(artifacts).mkdir(parents=True, exist_ok=True)
        shutil.copy(png, Path(artifacts) / png.name)


def test_the_status_page_shows_health_queue_errors_and_funnel(chromium: Browser, sandbox: SandboxServer,
                                                               sqlite_url: str, tmp_path: Path) -> None:
    settings = busy_world(sandbox, sqlite_url, tmp_path)["settings"]
    with world(settings, started_at=datetime.now(UTC) - timedelta(hours=1)) as (engine, url):
        engine.run_once()                                              # enrol + step 1 to every contact
        sandbox.gmail.deliver(REP, reply("buyer0@customer0.example", REP, 1))
        engine.run_once()
        sandbox.faults.add(Fault(provider="gmail", kind="error", status=403, count=10_000, path_prefix="/gmail/v1/"))
        with engine.store.session() as session:       # contact data in an error text is attacker-controlled
            record_error(session, f"mailbox:{REP}", "skip.contact", f"contact name {HOSTILE}")
        time.sleep(2.1)                                                # past the mailbox's 2 s budget
        engine.run_once()
        page = chromium.new_page(viewport={"width": 1280, "height": 800}, java_script_enabled=False)
        log_in(page, url)

        assert page.locator("#overall").inner_text() == "not ready"
        mailbox = page.locator(f'tr.source[data-source="mailbox:{REP}"]')
        assert "stale" in mailbox.inner_text() and "gmail.PermanentError" in mailbox.inner_text()
        assert "ok" in page.locator('tr.source[data-source="crm:hubspot"]').inner_text()
        assert "gmail answered 403" in page.locator("#errors").inner_text()
        assert HOSTILE in page.locator("#errors").inner_text()         # shown as text...
        assert page.locator("#errors img, #errors script").count() == 0   # ...never as markup
        funnel = page.locator("#funnel tbody tr").first.inner_text()
        assert "outreach" in funnel and "3" in funnel
        assert "send_email" in page.locator("#outbox").inner_text()
        work = page.locator("#work").inner_text()          # released after each run: free, next due shown
        assert f"mailbox:{REP}" in work and "crm:hubspot" in work and "free" in work

        png = tmp_path / "status-page.png"
        page.screenshot(path=str(png), full_page=True)
        check_screenshot(png)
        api = httpx.get(f"{url}/api/status", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).json()
        assert api["ready"] is False and api["funnel"][0]["enrolled"] == 3 and api["funnel"][0]["sent"] >= 3
        assert {w["unit"] for w in api["work"]} >= {f"mailbox:{REP}", "crm:hubspot"}
        page.close()
