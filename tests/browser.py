"""A real browser for tests: Debian's chromium, headless, driven by chromedriver through selenium.

`Browser.check(url)` loads a page and reports what a person would see broken: console errors,
images that did not load (naturalWidth 0), videos whose metadata never loaded (a codec the
browser cannot play, a missing file), links to files or pages that do not exist (file:// URLs:
the target path; fragments: the id on the target page). `crawl` follows every same-site page.
"""

from __future__ import annotations

import posixpath
import shutil
import tempfile
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
MEDIA_WAIT_S = 15.0

# Every <video> settled: metadata loaded (readyState >= 1) or failed (error set, or a source
# that never resolved: networkState 3 NO_SOURCE). Returns the broken ones' sources once all settled.
_VIDEOS = """
const videos = Array.from(document.querySelectorAll('video'));
const settled = videos.every(v => v.readyState >= 1 || v.error !== null || v.networkState === 3);
if (!settled) return null;
return videos.filter(v => v.readyState < 1).map(v => (v.currentSrc || v.getAttribute('src') || '?')
  + (v.error ? ' (media error ' + v.error.code + ')' : ' (no metadata)'));
"""
_IMAGES = """
const images = Array.from(document.images);
if (!images.every(i => i.complete)) return null;
return images.filter(i => i.naturalWidth === 0).map(i => i.getAttribute('src'));
"""
_LINKS = "return Array.from(document.querySelectorAll('a[href]')).map(a => a.getAttribute('href'));"


def available() -> str:
    """ "" when a headless browser can be started here, else why not."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    return f"no {' or '.join(missing)}: bash scripts/setup-browser.sh installs them" if missing else ""


@dataclass(frozen=True, kw_only=True)
class PageCheck:
    url: str
    console_errors: tuple[str, ...]
    broken_images: tuple[str, ...]
    broken_videos: tuple[str, ...]
    broken_links: tuple[str, ...]
    pages: tuple[str, ...]  # same-site .html pages it links to (absolute URLs, no fragment)

    @property
    def problems(self) -> list[str]:
        return [
            *(f"{self.url}: console: {e}" for e in self.console_errors),
            *(f"{self.url}: image did not load: {s}" for s in self.broken_images),
            *(f"{self.url}: video did not load: {s}" for s in self.broken_videos),
            *(f"{self.url}: link to nothing: {s}" for s in self.broken_links),
        ]


class Browser:
    def __init__(self, driver: Any) -> None:
        self.driver = driver

    def _settled(self, script: str) -> list[str]:
        # The scripts answer null until every element settled, then the (maybe empty) broken list:
        # boxed, so an empty list is an answer and not "keep waiting".
        try:
            boxed = WebDriverWait(self.driver, MEDIA_WAIT_S, poll_frequency=0.1).until(
                lambda d: None if (answer := d.execute_script(script)) is None else (answer,)
            )
        except TimeoutException:
            return [f"still loading after {MEDIA_WAIT_S:.0f} s"]
        assert boxed is not None  # until() returns only a true answer
        return [str(x) for x in boxed[0]]

    def check(self, url: str, root: str = "") -> PageCheck:
        """`url` loaded and checked; the .html pages it links to under `root` are listed to crawl."""
        self.driver.get(url)
        images, videos = self._settled(_IMAGES), self._settled(_VIDEOS)
        errors = [str(e.get("message")) for e in self.driver.get_log("browser") if e.get("level") == "SEVERE"]
        links = [str(h) for h in self.driver.execute_script(_LINKS)]
        broken, pages = [], []
        for href in links:
            target = urllib.parse.urljoin(url, href)
            bare, _, fragment = target.partition("#")
            if not _exists(bare) or (fragment and not self._has_id(bare, fragment, url)):
                broken.append(href)
            elif bare.endswith(".html") and root and bare.startswith(root):
                pages.append(bare)
        return PageCheck(
            url=url,
            console_errors=tuple(errors),
            broken_images=tuple(images),
            broken_videos=tuple(videos),
            broken_links=tuple(broken),
            pages=tuple(pages),
        )

    def _has_id(self, page: str, fragment: str, current: str) -> bool:
        if page != current.partition("#")[0]:
            return True  # checked when that page is crawled
        return bool(self.driver.execute_script("return document.getElementById(arguments[0]) !== null;", fragment))

    def screenshot(self, url: str, out: Path) -> None:
        self.driver.get(url)
        self._settled(_IMAGES)
        height = int(self.driver.execute_script("return document.documentElement.scrollHeight;"))
        self.driver.set_window_size(1280, min(max(height, 600), 4000))
        out.parent.mkdir(parents=True, exist_ok=True)
        self.driver.save_screenshot(str(out))


def _exists(url: str) -> bool:
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme != "file":
        return True  # only file:// sites are checked here
    return Path(urllib.parse.unquote(posixpath.normpath(parsed.path))).is_file()


@contextmanager
def browser() -> Iterator[Browser]:
    """A headless chromium (no sandbox: tests run as root), its profile removed on exit."""
    profile = tempfile.mkdtemp(prefix="harness-chromium-")
    options = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900"):
        options.add_argument(arg)
    options.add_argument(f"--user-data-dir={profile}")
    options.binary_location = str(CHROMIUM)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield Browser(driver)
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def crawl(b: Browser, start: str) -> list[PageCheck]:
    """Every page reachable from `start` within its site, each checked once."""
    root = start.rsplit("/", 1)[0] + "/"
    seen: dict[str, PageCheck] = {}
    todo = [start]
    while todo:
        url = todo.pop()
        if url in seen:
            continue
        seen[url] = b.check(url, root)
        todo += [p for p in seen[url].pages if p not in seen]
    return list(seen.values())
