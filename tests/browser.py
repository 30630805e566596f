"""Shared Playwright helpers for the browser tests: Debian's chromium (no browser download),
one browser per test module, a fresh page per test, and screenshots saved to a folder.

Use it from a test module with::

    from tests.browser import *  # noqa: F403 (the fixtures)
    from tests.browser import Shots, tab_to

    def test_x(page: Page, shots: Shots) -> None:
        page.goto(url)
        shots.save(page, "landing")

Screenshots go to ``build/screenshots/<module>/<name>.png`` (``$NWC_SCREENSHOTS`` moves the
root); with ``NWC_UPDATE_SCREENSHOTS=1`` the ones a test marks ``docs=True`` are also
copied to ``docs/screenshots/`` (the README's pictures). Phone-sized pages: ``phone_page``.

The tests skip, quoting the reason, when there is no browser: the bootstrap's
``.chromium-bootstrap-failed`` marker, no chromium binary, or Playwright missing.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path(os.environ.get("NWC_CHROMIUM", "/usr/lib/chromium/chromium"))
MARKER = ROOT / ".chromium-bootstrap-failed"
DOCS_SHOTS = ROOT / "docs" / "screenshots"
SHOTS_ROOT = Path(os.environ.get("NWC_SCREENSHOTS", ROOT / "build" / "screenshots"))
PHONE = {"width": 390, "height": 844}  # a common phone's CSS viewport
DESKTOP = {"width": 1280, "height": 860}
TIMEOUT_MS = 30_000  # Playwright's own waits are condition-based; this bounds each one


__all__ = ["browser", "page", "phone_page", "shots"]  # the fixtures, for `import *`


def skip_reason() -> str | None:
    """Why the browser tests cannot run here (None when they can)."""
    if MARKER.exists():
        text = MARKER.read_text().strip() or "no reason recorded"
        return f"no chromium (scripts/bootstrap.d/50-chromium.sh: {text})"
    if not CHROMIUM.exists():
        return f"no chromium at {CHROMIUM} (run scripts/bootstrap.sh, or set $NWC_CHROMIUM)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as exc:
        return f"playwright is not installed ({exc})"
    return None


class Shots:
    """Saves screenshots for one test module; ``docs=True`` marks a picture for docs/."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.saved: list[Path] = []

    def save(self, page: Any, name: str, *, docs: bool = False, full_page: bool = True) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{name}.png"
        page.screenshot(path=str(path), full_page=full_page)
        self.saved.append(path)
        if docs and os.environ.get("NWC_UPDATE_SCREENSHOTS"):
            DOCS_SHOTS.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, DOCS_SHOTS / path.name)
        return path


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One chromium per test module (starting it is the slow part)."""
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            yield chromium
        finally:
            chromium.close()


def _page(browser: Any, viewport: dict[str, int], **kw: Any) -> Iterator[Any]:
    context = browser.new_context(viewport=viewport, **kw)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield page
    finally:
        context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh desktop-sized page (own context: no cookies shared between tests); fails the
    test when the page threw a JavaScript error."""
    yield from _page(browser, DESKTOP)


@pytest.fixture
def phone_page(browser: Any) -> Iterator[Any]:
    """The same on a phone-sized, touch screen."""
    yield from _page(browser, PHONE, is_mobile=True, has_touch=True, device_scale_factor=2)


@pytest.fixture(scope="module")
def shots(request: pytest.FixtureRequest) -> Shots:
    name = request.module.__name__.rsplit(".", 1)[-1]
    return Shots(SHOTS_ROOT / name)


def tab_to(page: Any, selector: str, limit: int = 40) -> None:
    """Press Tab until the element matching ``selector`` has the focus (keyboard-only use);
    fails when it is not reachable within ``limit`` presses."""
    target = page.locator(selector).first
    for _ in range(limit):
        page.keyboard.press("Tab")
        if target.evaluate("el => el === document.activeElement"):
            return
    raise AssertionError(f"{selector} cannot be reached with the Tab key")
