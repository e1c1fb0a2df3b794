"""The machine page in headless Chromium: a reviewer asks for a calibration for a new article, sees
it pending; once the calibration worker (an admin, through the API) has claimed it and reported
its result, the page shows the before/after figures."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.api.conftest import PASSWORD, LiveApi, fresh_database, live_api
from tests.api.test_calibrations import FIGURES, result_path
from tests.web.browser import chromium, tab

pytestmark = pytest.mark.slow

REVIEWER = "rita"


@pytest.fixture
def plant(tmp_path: Path) -> Iterator[LiveApi]:
    with fresh_database("sqlite", tmp_path) as url, live_api(url, tmp_path) as api:
        api.add_machine("loom-1", line="Hall A", article="twill 240", web_width_mm=1600.0)
        api.add_user(REVIEWER, "reviewer")
        yield api


def test_a_reviewer_requests_a_calibration_and_sees_its_figures(plant: LiveApi) -> None:
    with chromium() as browser, tab(browser, plant.base_url) as reviewer:
        reviewer.log_in(REVIEWER, PASSWORD)
        page = reviewer.open("/machines/loom-1")
        expect(page.locator("#calibrations tbody")).to_contain_text("No calibrations")
        expect(page.locator("#calibrate-form input[name=length_m]")).to_have_value("30.0")

        page.fill("#calibrate-form input[name=article]", "twill 260 printed")
        page.fill("#calibrate-form input[name=length_m]", "25")
        page.click("#calibrate-form button[type=submit]")

        pending = page.locator("#calibrations tbody tr[data-status=pending]")
        expect(pending).to_have_count(1)  # after the page reloaded
        expect(pending).to_contain_text("twill 260 printed")
        expect(pending).to_contain_text(f"by {REVIEWER}")
        expect(pending.locator("td.num").first).to_have_text("25.0")

        page.fill("#calibrate-form input[name=article]", "twill 260 printed")
        page.click("#calibrate-form button[type=submit]")
        expect(page.locator("#flash")).to_contain_text("Calibration refused: 409")

        claimed = plant.admin.post("/api/v1/calibrations/claim", json={"machine_id": "loom-1"})
        assert claimed.status_code == 200, claimed.text
        body = {"status": "done", "model_version": "loom-1-twill@1", "result": FIGURES}
        reported = plant.admin.put(result_path(claimed.json()["id"]), json=body)
        assert reported.status_code == 200, reported.text
        page.reload()

        done = page.locator("#calibrations tbody tr[data-status=done]")
        expect(done).to_have_count(1)
        expect(done.locator("td.model")).to_have_text("loom-1-twill@1")
        expect(done.locator("td.false-alarms")).to_have_text("42% → 3%")
        expect(done.locator("td.detection")).to_have_text("31% → 88%")
        expect(done.locator("td.beats")).to_have_text("yes")
        expect(done.locator("td.registered")).to_have_text("yes")
        # The refused repeat is an expected console error (the browser logs the 409 response).
        assert [e for e in reviewer.errors if "409" not in e] == []
