"""Who may open the pages (plain HTTP, no browser): nobody without a login (sent to the login
page), no camera, every reviewer and admin; the admin controls are in the page for admins only."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from tests.api.conftest import LiveApi, live_api
from tests.web.conftest import NOW

PAGES = ["/", "/review", "/machines", "/machines/loom-a", "/machines/loom-a/rolls/R1", "/models"]


@pytest.fixture(scope="module")
def site(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[LiveApi, dict[str, httpx.Client]]]:
    folder: Path = tmp_path_factory.mktemp("site")
    with live_api(f"sqlite:///{folder / 'api.db'}", folder, clock=lambda: NOW) as api:
        api.add_machine("loom-a")
        clients = {
            "anonymous": api.client(),
            "camera": api.add_camera("loom-a", "cam-a"),
            "reviewer": api.add_user("rita", "reviewer"),
            "admin": api.admin,
        }
        yield api, clients


@pytest.mark.parametrize("path", PAGES)
@pytest.mark.parametrize(
    ("role", "status"), [("anonymous", 303), ("camera", 403), ("reviewer", 200), ("admin", 200)]
)
def test_who_may_open_each_page(
    site: tuple[LiveApi, dict[str, httpx.Client]], path: str, role: str, status: int
) -> None:
    response = site[1][role].get(path)

    expected = 303 if path == "/" and status == 200 else status
    assert response.status_code == expected, response.text
    if role == "anonymous":
        assert response.headers["location"] == f"/login?next={quote(path)}"
    if expected == 200:
        assert "text/html" in response.headers["content-type"]


def test_an_expired_or_forged_cookie_goes_to_the_login_page(
    site: tuple[LiveApi, dict[str, httpx.Client]],
) -> None:
    api = site[0]
    client = api.client()
    client.cookies.set("loomsight_session", "lss_forged")
    response = client.get("/review")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/review"


@pytest.mark.parametrize(
    ("next_path", "kept"),
    [
        ("/machines", "/machines"),
        ("//evil.example", "/review"),
        ("https://evil.example", "/review"),
    ],
)
def test_the_login_page_only_returns_to_this_site(
    site: tuple[LiveApi, dict[str, httpx.Client]], next_path: str, kept: str
) -> None:
    page = site[1]["anonymous"].get("/login", params={"next": next_path})
    assert page.status_code == 200
    assert f'data-next="{kept}"' in page.text


def test_admin_controls_are_in_the_models_page_for_admins_only(
    site: tuple[LiveApi, dict[str, httpx.Client]],
) -> None:
    admin_page = site[1]["admin"].get("/models").text
    reviewer_page = site[1]["reviewer"].get("/models").text
    assert 'id="upload-form"' in admin_page and "/static/models.js" in admin_page
    assert 'id="upload-form"' not in reviewer_page and "/static/models.js" not in reviewer_page


def test_static_files_and_plotly_come_from_this_server(
    site: tuple[LiveApi, dict[str, httpx.Client]],
) -> None:
    anonymous = site[1]["anonymous"]
    plotly = anonymous.get("/vendor/plotly.min.js")
    assert plotly.status_code == 200 and len(plotly.content) > 1_000_000
    assert anonymous.get("/static/review.js").status_code == 200
    assert anonymous.get("/static/../pages.py").status_code == 404
    for page in ("review", "machines", "models"):
        html = site[1]["admin"].get(f"/{page}").text
        assert "http://" not in html and "https://" not in html  # nothing from the internet


def test_the_pages_stay_out_of_the_openapi_schema(
    site: tuple[LiveApi, dict[str, httpx.Client]],
) -> None:
    paths = site[1]["anonymous"].get("/openapi.json").json()["paths"]
    assert all(path.startswith(("/api/", "/healthz", "/readyz", "/metrics")) for path in paths)
