"""The built book in a real browser: headless Chromium from the system's packages, driven by selenium.

Serves the strict smoke build (see conftest.book_build) on 127.0.0.1 and checks
what a reader meets: every page loads without JavaScript errors, every image
has loaded, the table of contents lists every chapter in order, next/previous
navigation walks the book, search finds "ResNet", math is typeset, and the
launch and download buttons point where they should, and no table or printed output scrolls
sideways, and, in the theme's dark mode, every figure, equation and table cell is legible
(test_page_is_legible_in_dark_mode: the criterion is written above it). A screenshot of every
page, light and dark, is saved to _build/screenshots for people to look at.

`make test` installs Debian's chromium and chromium-driver first (`make browser`).
"""

import functools
import http.server
import json
import re
import shutil
import threading
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from conftest import HTML, ROOT

# If this module runs first, its first test builds the book (tests/conftest.py): allow for it.
pytestmark = [pytest.mark.book, pytest.mark.timeout(1800)]

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
SCREENSHOTS = ROOT / "_build" / "screenshots"
# Without the background-networking flags Chromium keeps trying to reach Google's hosts, which a
# closed network refuses; each refusal would be logged as a console error.
CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1280,1000",
]


def toc_pages() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    return [toc["root"]] + [c["file"] for part in toc["parts"] for c in part["chapters"]]


def repository_url() -> str:
    return yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"].rstrip("/")


@pytest.fixture(scope="module")
def site(book_build):
    rc, _ = book_build
    if rc != 0 or not (HTML / "index.html").is_file():
        pytest.fail("the strict book build failed (see test_book.py); there is no site to check")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(HTML))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).exists()]
    if missing:
        pytest.fail(f"{', '.join(missing)} not found: run `make browser` (Debian packages chromium, chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS + [f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def screenshots():
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)
    SCREENSHOTS.mkdir(parents=True)
    return SCREENSHOTS


def open_page(driver, url: str):
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(url)
    wait = WebDriverWait(driver, 30)
    wait.until(lambda d: d.execute_script("return document.readyState") == "complete")
    wait.until(lambda d: d.execute_script("return Array.from(document.images).every(i => i.complete)"))


def console_errors(driver) -> list[str]:
    return [f"{e['level']}: {e['message']}" for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def wide_outputs(driver) -> list[str]:
    """The start of every table, every printed output of a cell and every code cell that needs a horizontal scrollbar
    (a collapsed check is measured when it is open: closed, it has no width)."""
    return driver.execute_script(
        """
        const scrolls = el => {
            for (let e = el; e && e !== document.body; e = e.parentElement) {
                const o = getComputedStyle(e).overflowX;
                if ((o === 'auto' || o === 'scroll') && e.scrollWidth > e.clientWidth + 1) return true;
            }
            return false;
        };
        const main = document.querySelector('main') || document.body;
        const shown = e => e.getClientRects().length > 0 && (e.innerText || '').trim() !== '';
        return Array.from(main.querySelectorAll('table, .cell_output pre, .cell_input pre'))
            .filter(shown).filter(scrolls).map(e => e.tagName + ': ' + (e.innerText || '').slice(0, 80));
        """
    )


@pytest.mark.parametrize("page", toc_pages())
def test_page_loads_cleanly(site, browser, screenshots, page):
    browser.get_log("browser")  # drop what earlier pages left
    open_page(browser, f"{site}/{page}.html")
    assert browser.title and "404" not in browser.title, f"{page}: title {browser.title!r}"
    assert console_errors(browser) == [], f"{page}: JavaScript console errors"
    broken = browser.execute_script(
        "return Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src)"
    )
    assert broken == [], f"{page}: images that did not load"
    colab = browser.execute_script(
        "return Array.from(document.querySelectorAll('a')).map(a => a.href).filter(h => h.includes('colab.research'))"
    )
    assert colab == [], f"{page}: a Colab launch link (nothing installs mnistlib in Colab)"
    wide = wide_outputs(browser)
    assert wide == [], f"{page}: tables, printed outputs or code wider than the page (they scroll sideways): {wide}"
    height = browser.execute_script("return Math.min(document.body.scrollHeight, 20000)")
    browser.set_window_size(1280, max(1000, height))
    assert browser.save_screenshot(str(screenshots / f"{page.replace('/', '__')}.png"))
    browser.set_window_size(1280, 1000)


def test_table_of_contents_lists_every_chapter_in_order(site, browser):
    open_page(browser, f"{site}/index.html")
    hrefs = browser.execute_script(
        "return Array.from(document.querySelectorAll('nav.bd-links a.reference.internal')).map(a => a.href)"
    )
    listed = [urlsplit(h).path.lstrip("/").removesuffix(".html") for h in hrefs]
    expected = toc_pages()[1:]  # the root page is the "home" link, not a sidebar entry
    assert [p for p in listed if p in expected] == expected


def test_next_and_previous_walk_the_book(site, browser):
    pages = toc_pages()
    open_page(browser, f"{site}/{pages[0]}.html")
    visited = [pages[0]]
    for _ in pages[1:]:
        browser.find_element("css selector", "a.right-next").click()
        open_page(browser, browser.current_url)
        visited.append(urlsplit(browser.current_url).path.lstrip("/").removesuffix(".html"))
    assert visited == pages
    for expected in reversed(pages[:-1]):
        browser.find_element("css selector", "a.left-prev").click()
        open_page(browser, browser.current_url)
        assert urlsplit(browser.current_url).path.lstrip("/").removesuffix(".html") == expected


def test_search_finds_resnet(site, browser):
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get_log("browser")  # drop what the walk through the book left: this test checks its own page
    open_page(browser, f"{site}/search.html?q=ResNet")
    WebDriverWait(browser, 30).until(
        lambda d: d.execute_script("return document.querySelectorAll('#search-results li, ul.search li').length") > 0
    )
    text = browser.find_element("css selector", "#search-results").text
    assert "ResNet" in text or "resnet" in text.lower()
    assert console_errors(browser) == []


def test_favicon_is_served_at_the_root(site):
    """Browsers ask for /favicon.ico whatever the page declares; a 404 there is a console error."""
    with urllib.request.urlopen(f"{site}/favicon.ico") as response:
        assert response.read(4) == b"\x00\x00\x01\x00"  # the ICO header: reserved 0, type 1 (icon)
    with urllib.request.urlopen(f"{site}/{toc_pages()[0]}.html") as response:
        assert re.search(r'<link rel="icon" href="[^"]*favicon\.svg"', response.read().decode())


@pytest.mark.parametrize("page", ["chapters/03_linear_models", "chapters/07_batch_normalization", "book/appendix_idx"])
def test_math_is_typeset(site, browser, page):
    from selenium.webdriver.support.ui import WebDriverWait

    open_page(browser, f"{site}/{page}.html")
    WebDriverWait(browser, 30).until(
        lambda d: d.execute_script("return document.querySelectorAll('mjx-container').length") > 0
    )
    raw = browser.execute_script(
        "return Array.from(document.querySelectorAll('article p')).filter(p => /\\$[^$ ]/.test(p.innerText)).length"
    )
    assert raw == 0, f"{page}: paragraphs with untypeset $...$"


def test_launch_and_download_buttons(site, browser):
    repo = repository_url()
    owner_repo = urlsplit(repo).path.strip("/")
    open_page(browser, f"{site}/chapters/05_cnn.html")
    links = browser.execute_script("return Array.from(document.querySelectorAll('a')).map(a => a.href)")
    assert any(
        re.search(rf"mybinder\.org/v2/gh/{owner_repo}/main\?urlpath=lab/tree/chapters/05_cnn\.ipynb", h) for h in links
    ), "Binder (JupyterLab) launch button"
    colab = [h for h in links if "colab.research.google.com" in h]
    assert colab == [], "no Colab launch button: nothing installs mnistlib in Colab"
    assert any(h.startswith(repo) for h in links), "repository button"
    downloads = [h for h in links if h.endswith("05_cnn.ipynb") and h.startswith(site)]
    assert downloads, "download button for the .ipynb"
    with urllib.request.urlopen(downloads[0]) as response:  # the download link serves the notebook
        assert json.loads(response.read())["nbformat"] == 4


def test_exercises_are_numbered_and_a_solution_opens_when_clicked(site, browser, screenshots):
    """Chapter 04's exercises are numbered per chapter, 4.1, 4.2, ... (the table of contents numbers the chapters);
    each solution is hidden until its title is clicked."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    open_page(browser, f"{site}/chapters/04_mlp.html")
    numbers = browser.execute_script(
        "return Array.from(document.querySelectorAll('.exercise .caption-number')).map(e => e.innerText.trim())"
    )
    assert numbers and numbers == [f"Exercise 4.{i}" for i in range(1, len(numbers) + 1)], numbers
    heights = "return Array.from(document.querySelectorAll('.solution > section')).map(s => s.offsetHeight)"
    hidden = browser.execute_script(heights)
    assert len(hidden) == len(numbers) and not any(hidden), f"solutions shown before a click: {hidden}"
    title = browser.find_elements(By.CSS_SELECTOR, ".solution .admonition-title")[0]
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", title)
    title.click()
    WebDriverWait(browser, 10).until(lambda d: d.execute_script(heights)[0] > 0)
    shown = browser.execute_script(
        "const s = document.querySelector('.solution > section'); return [s.offsetHeight, s.innerText.length]"
    )
    assert shown[0] > 0 and shown[1] > 20, f"the first solution did not open: {shown}"
    assert not any(browser.execute_script(heights)[1:]), "clicking one solution opened others"
    browser.save_screenshot(str(screenshots / "04_mlp-solution-opened.png"))


# Dark mode (issue 37). The theme's dark mode must leave every figure, table and equation legible. The criterion,
# measured on what the reader sees (a screenshot of each image element as rendered in dark mode, the theme's filter
# and background included): a figure is drawn on its own light background, the ring of pixels along its edge
# having a median relative luminance (WCAG) of at least DARK_FIGURE_MIN_BACKGROUND, and its ink (the darkest 0.2% of
# its pixels: the text and lines of a plot) has a contrast ratio of at least DARK_MIN_CONTRAST with that background,
# WCAG's 4.5:1 for text. A transparent figure with dark text fails the first test (the page behind it is dark).
# Equations and table cells: their text colour against the first opaque background behind them, the same 4.5:1.
DARK_FIGURE_MIN_BACKGROUND = 0.4
DARK_MIN_CONTRAST = 4.5


def _luminance(rgb):
    """WCAG relative luminance of sRGB values in 0..255 (any array shape ending in 3)."""
    import numpy as np

    c = np.asarray(rgb, dtype=float) / 255.0
    c = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return c @ np.array([0.2126, 0.7152, 0.0722])


def _contrast(l1: float, l2: float) -> float:
    return (max(l1, l2) + 0.05) / (min(l1, l2) + 0.05)


def figure_legibility(png: bytes) -> tuple[float, float]:
    """(median luminance of the image's edge ring, contrast of its darkest 0.2% of pixels with that edge)."""
    import io

    import numpy as np
    from PIL import Image

    lum = _luminance(np.asarray(Image.open(io.BytesIO(png)).convert("RGB")))
    ring = np.concatenate([lum[:3].ravel(), lum[-3:].ravel(), lum[:, :3].ravel(), lum[:, -3:].ravel()])
    background = float(np.median(ring))
    ink = float(np.percentile(lum, 0.2))
    return background, _contrast(background, ink)


DARK_TEXT_CONTRASTS = """
const rgb = s => (s.match(/[\\d.]+/g) || []).map(Number);
const lin = x => x <= 0.04045 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4;
const lum = c => { const v = c.slice(0, 3).map(x => lin(x / 255));
                   return 0.2126 * v[0] + 0.7152 * v[1] + 0.0722 * v[2]; };
const behind = e => { for (; e; e = e.parentElement) { const c = rgb(getComputedStyle(e).backgroundColor);
                        if (c.length === 3 || (c.length === 4 && c[3] > 0.9)) return c; } return [255, 255, 255]; };
const main = document.querySelector('main') || document.body;
const items = Array.from(main.querySelectorAll('mjx-container, td, th')).filter(e => e.innerText.trim());
return JSON.stringify(items.slice(0, 400).map(e => {
    const a = lum(rgb(getComputedStyle(e).color)), b = lum(behind(e));
    return [e.tagName + ': ' + e.innerText.trim().slice(0, 40), (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05)];
}));
"""


@pytest.mark.parametrize("page", toc_pages())
def test_page_is_legible_in_dark_mode(site, browser, screenshots, page):
    """The page in the theme's dark mode: each shown figure screenshotted as rendered and measured
    (figure_legibility), and every equation's and table cell's text colour against what is behind it."""
    from selenium.webdriver.common.by import By

    open_page(browser, f"{site}/{page}.html")
    # The theme's switch sets both attributes on <html> (and remembers the choice in localStorage["mode"]).
    browser.execute_script(
        "document.documentElement.dataset.mode = 'dark'; document.documentElement.dataset.theme = 'dark';"
    )
    shown = [i for i in browser.find_elements(By.CSS_SELECTOR, "main img") if i.size["width"] and i.size["height"]]
    faint = []
    for image in shown:
        # Only what a reader sees: an image in a closed solution has a size but lies under what covers it.
        seen = browser.execute_script(
            "const i = arguments[0]; i.scrollIntoView({block: 'center'}); const r = i.getBoundingClientRect();"
            "return document.elementFromPoint(r.left + r.width / 2, r.top + Math.min(r.height / 2, 400)) === i;",
            image,
        )
        if not seen:
            continue
        background, contrast = figure_legibility(image.screenshot_as_png)
        if background < DARK_FIGURE_MIN_BACKGROUND or contrast < DARK_MIN_CONTRAST:
            faint.append(
                f"{image.get_attribute('src').rsplit('/', 1)[-1]}: edge {background:.2f}, ink {contrast:.1f}:1"
            )
    browser.execute_script("window.scrollTo(0, 0)")  # the page's first screen in dark mode, for people to look at
    assert browser.save_screenshot(str(screenshots / f"dark__{page.replace('/', '__')}.png"))
    assert faint == [], f"{page}: figures not legible in dark mode: {faint}"
    contrasts = json.loads(browser.execute_script(DARK_TEXT_CONTRASTS))
    low = [f"{text} ({ratio:.1f}:1)" for text, ratio in contrasts if ratio < DARK_MIN_CONTRAST]
    assert low == [], f"{page}: equations or table cells with too little contrast in dark mode: {low[:5]}"
