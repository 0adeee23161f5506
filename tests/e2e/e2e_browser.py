"""Browser helpers for the end-to-end tests: how Chromium is started and how screenshots are kept."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow_cluster import AirflowCluster
    from playwright.sync_api import Locator, Page

# Headless in a container without a GPU or a user namespace sandbox, and no traffic to the outside.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


class Screenshots:
    """Numbered screenshots of one test under ``test-artifacts/e2e/``, with an index of what each shows."""

    def __init__(self, page: Page, directory: Path, root: Path, prefix: str) -> None:
        self.page = page
        self.directory = directory
        self.root = root
        self.prefix = prefix
        self.taken: list[Path] = []

    def take(self, name: str, shows: str, whole: Locator | None = None) -> Path:
        """Save a screenshot named ``name``; ``shows`` says what a reader should see in it.

        With ``whole`` (a dialog, say, that scrolls inside the page), the window is made tall enough
        for all of that element to show, so nothing it contains is cut off.
        """
        path = self.directory / f"{self.prefix}-{len(self.taken) + 1:02d}-{name}.png"
        viewport = self.page.viewport_size
        if whole is not None and viewport is not None:
            height = int(whole.evaluate("e => e.scrollHeight"))
            self.page.set_viewport_size({"width": viewport["width"], "height": max(viewport["height"], height + 200)})
        try:
            self.page.screenshot(path=str(path), full_page=True)
        finally:
            if whole is not None and viewport is not None:
                self.page.set_viewport_size(viewport)
        self.taken.append(path)
        with (self.directory / "index.md").open("a") as index:
            index.write(f"- `{path.relative_to(self.root)}`: {shows}\n")
        print(f"screenshot: {path.relative_to(self.root)} ({shows})")
        return path


def sign_in(page: Page, airflow: AirflowCluster, shots: Screenshots | None, user: str = "admin") -> None:
    """Sign in on the SimpleAuthManager's login page as ``user`` (admin or viewer)."""
    page.goto(f"{airflow.base_url}/")
    page.get_by_label("Username").fill(user)
    page.get_by_label("Password").fill(airflow.passwords[user])
    if shots is not None:
        shots.take("login", f"the Airflow 3 sign-in page with the {user}'s username filled in")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Welcome").wait_for()
