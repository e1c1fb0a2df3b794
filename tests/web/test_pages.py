"""The pages in headless Chromium against the seeded API: log in, review ten detections by
keyboard, see the confirmed-only rate change, open a roll report; screenshots of every page;
no console errors anywhere."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.api.conftest import ADMIN, PASSWORD
from tests.web.browser import Tab, chromium, tab
from tests.web.conftest import LOOM_1_EVENTS, REVIEWER, Plant

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def reviewer_tab(browser: Browser, plant: Plant) -> Iterator[Tab]:
    with tab(browser, plant.api.base_url) as opened:
        yield opened
        assert opened.errors == []


def _summary(plant: Plant) -> dict[str, int]:
    response = plant.reviewer.get("/api/v1/review/summary", params={"machine": "loom-1"})
    return dict(response.json()["overall"])


def _current_event(page: Page) -> str:
    return str(page.get_attribute("#reviewer", "data-event-id"))


def _wait_for_next(page: Page, before: str) -> None:
    page.wait_for_function(
        "before => document.getElementById('reviewer').dataset.eventId !== before", arg=before
    )


def _machine_rates(tab: Tab) -> tuple[str, str]:
    page = tab.open("/machines/loom-1")
    page.wait_for_selector("body[data-loaded=true]")
    return page.inner_text("#rate-all"), page.inner_text("#rate-confirmed")


def test_review_ten_by_keyboard_changes_the_confirmed_rate(reviewer_tab: Tab, plant: Plant) -> None:
    reviewer_tab.log_in(REVIEWER, PASSWORD)
    all_before, confirmed_before = _machine_rates(reviewer_tab)
    reviewer_tab.screenshot("machine")

    page = reviewer_tab.open("/review")
    page.select_option("select[name=machine]", "loom-1")
    expect(page.locator("#progress")).to_have_attribute("data-left", str(LOOM_1_EVENTS))
    page.wait_for_function(
        "() => ['crop', 'frame'].every(id => document.getElementById(id).naturalWidth > 0)"
    )
    reviewer_tab.screenshot("review")
    for key in ["Enter", "c", "x", "2", "Enter"]:
        before = _current_event(page)
        page.keyboard.press(key)
        _wait_for_next(page, before)
    undone = _current_event(page)
    page.keyboard.press("u")
    expect(page.locator("#last-action")).to_contain_text("undone")
    assert _current_event(page) != undone  # the undone one is back on screen
    skipped = None
    for key in ["Enter", "s", "c", "c", "c", "Enter"]:
        before = _current_event(page)
        skipped = before if key == "s" else skipped
        page.keyboard.press(key)
        _wait_for_next(page, before)
    boxed = _current_event(page)
    box = page.locator("#overlay").bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + 20, box["y"] + 20)
    page.mouse.down()
    page.mouse.move(box["x"] + 120, box["y"] + 90, steps=4)
    page.mouse.up()
    expect(page.locator("#drawn-box")).to_have_count(1)
    page.keyboard.press("Enter")
    expect(page.locator("#progress")).to_have_attribute("data-left", str(LOOM_1_EVENTS - 10))

    summary: dict[str, int] = {}
    for _ in range(50):  # the last PUT may still be on its way
        summary = _summary(plant)
        if summary["unreviewed"] == LOOM_1_EVENTS - 10:
            break
        page.wait_for_timeout(100)
    assert summary["unreviewed"] == LOOM_1_EVENTS - 10
    assert summary["false_alarm"] == 1
    assert summary["relabelled"] >= 1  # the drawn box (and key 2 unless it named the same class)
    assert summary["confirmed"] + summary["relabelled"] == 9
    queue = plant.reviewer.get("/api/v1/review/queue", params={"machine": "loom-1"}).json()
    assert skipped in [item["event_id"] for item in queue["items"]]
    relabelled = plant.reviewer.get(f"/api/v1/review/events/{boxed}").json()
    assert relabelled["verdict"] == "relabelled"
    x1, y1, x2, y2 = relabelled["corrected_box_xyxy_px"]
    assert 0 <= x1 < x2 <= 384 and 0 <= y1 < y2 <= 288

    all_after, confirmed_after = _machine_rates(reviewer_tab)
    inspected_m = plant.inspected_m
    assert all_before == all_after == f"{100 * LOOM_1_EVENTS / inspected_m:.2f}"
    assert confirmed_before == "0.00"
    assert confirmed_after == f"{100 * 9 / inspected_m:.2f}"


def test_machines_overview_marks_silent_and_degraded_machines(
    reviewer_tab: Tab, plant: Plant
) -> None:
    reviewer_tab.log_in(REVIEWER, PASSWORD)
    page = reviewer_tab.open("/machines")
    page.wait_for_selector("#machines[data-loaded=true]")
    reviewer_tab.screenshot("machines")

    states = {
        machine: page.get_attribute(f"tr[data-machine={machine}]", "class")
        for machine in ("loom-1", "loom-2", "loom-3")
    }
    assert states == {
        "loom-1": "machine state-ok",
        "loom-2": "machine state-silent",
        "loom-3": "machine state-degraded",
    }
    assert "SILENT" in page.inner_text("tr[data-machine=loom-2]")
    assert "90 min" in page.inner_text("tr[data-machine=loom-2]")
    assert "DEGRADED" in page.inner_text("tr[data-machine=loom-3]")
    assert "outbox 500" in page.inner_text("tr[data-machine=loom-3]")
    day_all = page.inner_text("tr[data-machine=loom-1] [data-field=day_all]")
    assert day_all == f"{100 * LOOM_1_EVENTS / plant.inspected_m:.2f}"


def test_a_roll_report_opens_from_the_machine_page(reviewer_tab: Tab, plant: Plant) -> None:
    reviewer_tab.log_in(REVIEWER, PASSWORD)
    page = reviewer_tab.open("/machines/loom-1")
    page.click("#rolls a:text('R-101')")
    page.wait_for_url("**/machines/loom-1/rolls/R-101")
    page.wait_for_selector("body[data-loaded=true]")
    page.wait_for_function("() => document.getElementById('map').naturalWidth > 0")
    reviewer_tab.screenshot("roll")

    report = plant.reviewer.get("/api/v1/machines/loom-1/rolls/R-101").json()
    assert page.inner_text("#grade") == (report["grade"] or "ungraded")
    assert page.locator("#defects tbody tr").count() == len(report["defects"]) > 0
    assert page.locator("#yards tbody tr").count() == len(report["yards"])
    printable = page.get_attribute("#printable", "href")
    assert printable is not None
    response = page.request.get(plant.api.base_url + printable)
    assert response.status == 200 and "R-101" in response.text()


def test_models_page_shows_admin_actions_to_admins_only(browser: Browser, plant: Plant) -> None:
    from tests.api.test_models import CARD, upload

    assert upload(plant.api.admin, CARD).status_code in (200, 201)
    with tab(browser, plant.api.base_url) as admin:
        admin.log_in(ADMIN, PASSWORD)
        page = admin.open("/models")
        page.click(f"article[data-version='{CARD['version']}'] [data-all=activate]")
        expect(page.locator("#running")).to_contain_text("the fleet model")
        admin.screenshot("models")
        assert admin.errors == []
    with tab(browser, plant.api.base_url) as reviewer:
        reviewer.log_in(REVIEWER, PASSWORD)
        page = reviewer.open("/models")
        expect(page.locator("article.model")).to_have_count(1)
        assert page.locator(".admin-only, #upload-form, [data-all]").count() == 0
        status = page.evaluate(
            """async version => (await fetch(`/api/v1/models/${version}/deactivate`, {
                method: 'POST', headers: {'content-type': 'application/json'}, body: '{}'
            })).status""",
            CARD["version"],
        )
        assert status == 403
        reviewer.errors.clear()  # the refused fetch is logged by Chromium, as it should be


def test_the_login_page_and_a_wrong_password(browser: Browser, plant: Plant) -> None:
    with tab(browser, plant.api.base_url) as visitor:
        page = visitor.open("/machines")
        page.wait_for_url("**/login?next=/machines")
        visitor.screenshot("login")
        page.fill("input[name=username]", REVIEWER)
        page.fill("input[name=password]", "not the password")
        page.press("input[name=password]", "Enter")
        expect(page.locator("#login-error")).to_contain_text("Wrong username or password")
        page.fill("input[name=password]", PASSWORD)
        page.press("input[name=password]", "Enter")
        # "**/machines" would also match the login page's own "?next=/machines"; and the
        # logout button works only once the page's script has run: wait for the list.
        page.wait_for_selector("#machines[data-loaded=true]")
        page.click("#logout")
        page.wait_for_url("**/login")
        page = visitor.open("/review")
        page.wait_for_url("**/login?next=/review")
        assert [e for e in visitor.errors if "401" not in e] == []
