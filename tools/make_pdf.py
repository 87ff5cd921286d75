"""Print the single-page HTML book to PDF in headless Chromium (`make pdf`).

Usage: python tools/make_pdf.py SINGLEHTML_FOLDER OUT.pdf

The page is the one Jupyter Book's ``singlehtml`` builder wrote from the executed
book (nothing is executed here). Chromium opens it, waits for every image and for
MathJax to typeset every equation, and prints it with Chrome's own PDF printer
(DevTools ``Page.printToPDF``): A4, the book's print stylesheet
(book/_ext/static/book_print.css), page numbers in the footer. The same Chromium
and chromedriver the site tests use (Debian's chromium, chromium-driver).
"""

import base64
import sys
import tempfile
import time
from pathlib import Path

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--allow-file-access-from-files",
    "--window-size=1000,1400",
]
FOOTER = (
    '<div style="font-size:8px;width:100%;text-align:center;color:#555;">'
    '<span class="pageNumber"></span> / <span class="totalPages"></span></div>'
)


def print_pdf(page: Path, out: Path, timeout: float = 600) -> int:
    """Print ``page`` to ``out``; return the PDF's size in bytes."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    with tempfile.TemporaryDirectory(prefix="mnistbook-pdf-") as profile:
        for flag in FLAGS + [f"--user-data-dir={profile}"]:
            options.add_argument(flag)
        driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
        # Loading the whole book and printing it each take minutes on a busy machine: longer than selenium's
        # default of 120 s for one command.
        driver.command_executor._client_config.timeout = timeout
        try:
            driver.set_page_load_timeout(timeout)
            driver.set_script_timeout(timeout)
            driver.get(page.resolve().as_uri())
            wait = WebDriverWait(driver, timeout)
            wait.until(lambda d: d.execute_script("return document.readyState") == "complete")
            # Lazy images load only when scrolled to: load them all now.
            driver.execute_script("document.querySelectorAll('img').forEach(i => { i.loading = 'eager'; });")
            wait.until(lambda d: d.execute_script("return Array.from(document.images).every(i => i.complete)"))
            # MathJax typesets the whole book once, on load; its promise resolves when every equation is done.
            wait.until(
                lambda d: d.execute_script("return !!(window.MathJax && MathJax.startup && MathJax.startup.promise)")
            )
            driver.execute_script("MathJax.startup.promise.then(() => { window.mnistbookTypeset = true; });")
            wait.until(lambda d: d.execute_script("return window.mnistbookTypeset === true"))
            time.sleep(0.5)  # layout after the last equation
            result = driver.execute_cdp_cmd(
                "Page.printToPDF",
                {
                    "printBackground": True,
                    "preferCSSPageSize": True,
                    "displayHeaderFooter": True,
                    "headerTemplate": "<div></div>",
                    "footerTemplate": FOOTER,
                    "generateDocumentOutline": True,
                    "generateTaggedPDF": True,
                },
            )
        finally:
            driver.quit()
    data = base64.b64decode(result["data"])
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    return len(data)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.splitlines()[2], file=sys.stderr)
        return 2
    folder, out = Path(argv[0]), Path(argv[1])
    root_doc = folder / "book" / "intro.html"
    if not root_doc.is_file():
        print(f"{root_doc} not found: the singlehtml build did not run", file=sys.stderr)
        return 1
    # singlehtml writes the book under the root document's name (book/intro.html) but links its images, styles
    # and scripts from the output's root: the page is printed from a copy at the root.
    page = folder / "book.html"
    page.write_text(root_doc.read_text(encoding="utf-8"), encoding="utf-8")
    start = time.monotonic()
    size = print_pdf(page, out)
    print(f"{out}: {size / 1e6:.1f} MB, printed in {time.monotonic() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
