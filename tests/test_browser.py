"""The built book, read in a real browser: headless Chromium at 1280 px and 390 px.

Run by ``make browser-check`` (part of ``make test``) after the ``-W`` smoke
build, with ``DLBOOK_HTML`` pointing at the built site; without that variable
these tests skip, so ``pytest tests`` stays fast. Each page fails with a list
of what a reader would hit there:

- ``page-wide``: the page is wider than the window (it scrolls sideways);
- ``equation-wide``: at 1280 px, a display equation is wider than the text
  column beside its number (at 390 px equations may scroll in their own box:
  counted in the summary, not failed);
- ``code-wide``: at 1280 px, a code block scrolls (a line exceeds the column;
  at 390 px code may scroll: counted only);
- ``figure-scaled``: at 1280 px, an image is shown below 95 % of the size it
  was drawn at, so its labels shrink below 9 px (draw it for the column:
  ``dlbook.plot.subplots``/``show``);
- ``image-alt`` / ``image-caption``: an image without a meaningful alt text,
  or not in a numbered figure with a caption (plots and diagrams alike);
- ``mathjax``: MathJax did not typeset a formula or reports an error;
- ``solution-label``: a toggle under "Exercises" not labelled "Solution".

The navigation test clicks the sidebar and contents buttons the way a reader
does (a real click on the visible button) at both widths. A summary of the
problems per kind and page is printed and written to
``$DLBOOK_HTML/../browser-check.txt``.
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import threading
from collections import Counter
from pathlib import Path

import pytest

HTML_ENV = "DLBOOK_HTML"
HTML = Path(os.environ[HTML_ENV]).resolve() if os.environ.get(HTML_ENV) else None
WIDTHS = {"desktop": (1280, 900), "phone": (390, 844)}
# At 390 px these may scroll inside their own box (issue 12); they are counted.
COUNTED_ONLY = {("phone", "equation-wide"), ("phone", "code-wide")}

pytestmark = pytest.mark.skipif(
    HTML is None,
    reason=f"set {HTML_ENV} to a built book (make browser-check does, after book-check)",
)


def _pages() -> list[str]:
    if HTML is None or not HTML.is_dir():
        return []
    pages = ["index.html"]
    for sub in ("chapters", "appendix"):
        pages += sorted(
            p.relative_to(HTML).as_posix() for p in (HTML / sub).glob("*.html")
        )
    return pages


def _chromium() -> tuple[str, str] | None:
    browser = next(
        (
            shutil.which(b)
            for b in ("chromium", "chromium-browser", "google-chrome")
            if shutil.which(b)
        ),
        None,
    )
    driver = shutil.which("chromedriver") or next(
        (
            p
            for p in ("/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver")
            if Path(p).exists()
        ),
        None,
    )
    return (browser, driver) if browser and driver else None


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def site():
    if not HTML.is_dir():
        pytest.fail(f"{HTML} does not exist: build the book first (make book-check)")
    handler = functools.partial(_QuietHandler, directory=str(HTML))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


@pytest.fixture(scope="module")
def browser():
    found = _chromium()
    if found is None:
        pytest.skip(
            "Chromium and chromedriver are not installed and cannot be here "
            "(on Debian/Ubuntu as root: apt-get install chromium chromium-driver)"
        )
    webdriver = pytest.importorskip("selenium.webdriver")
    opts = webdriver.ChromeOptions()
    opts.binary_location = found[0]
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--hide-scrollbars",
        "--force-device-scale-factor=1",
    ):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    from selenium.webdriver.chrome.service import Service

    drv = webdriver.Chrome(service=Service(found[1]), options=opts)
    drv.set_page_load_timeout(60)
    drv.set_script_timeout(60)
    yield drv
    drv.quit()


def _viewport(drv, kind: str) -> None:
    w, h = WIDTHS[kind]
    drv.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": w, "height": h, "deviceScaleFactor": 1, "mobile": kind == "phone"},
    )


def _load(drv, url: str) -> None:
    drv.get(url)
    drv.execute_async_script(WAIT_FOR_MATHJAX)


WAIT_FOR_MATHJAX = """
const done = arguments[arguments.length - 1];
const t0 = Date.now();
(function wait() {
  const ready = document.readyState === 'complete';
  const mj = window.MathJax && MathJax.startup && MathJax.startup.promise;
  if (ready && mj) { MathJax.startup.promise.then(() => done(true), () => done(false)); }
  else if (ready && Date.now() - t0 > 5000) { done(false); }
  else { setTimeout(wait, 50); }
})();
"""

# Returns [[kind, detail], ...] for the current page at the current width.
INSPECT = r"""
const desktop = arguments[0];
const out = [];
const vw = document.documentElement.clientWidth;
const art = document.querySelector('article.bd-article') || document.body;
const short = (s, n) => { s = (s || '').replace(/\s+/g, ' ').trim();
  return s.length > n ? s.slice(0, n - 1) + '…' : s; };
const where = el => {  // the section a thing sits in: its heading
  let s = el.closest('section');
  const h = s && s.querySelector('h1, h2, h3, h4');
  return h ? '§' + short(h.textContent.replace('#', ''), 40) : '';
};
// the page
const pw = Math.max(document.documentElement.scrollWidth, document.body.scrollWidth);
if (pw > vw + 1) {
  const clipped = el => { for (let a = el.parentElement; a; a = a.parentElement) {
    const o = getComputedStyle(a).overflowX;
    if (o !== 'visible' && a.getBoundingClientRect().right <= vw + 1) return true; }
    return false; };
  const culprits = [];
  for (const el of document.body.querySelectorAll('*')) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.right <= vw + 1) continue;
    const p = el.parentElement && el.parentElement.getBoundingClientRect();
    if (p && p.right > vw + 1) continue;  // report the outermost element that sticks out
    if (clipped(el)) continue;
    culprits.push(`<${el.tagName.toLowerCase()} class="${short(el.className.baseVal ?? el.className, 40)}"> ${short(el.textContent, 60)} (right edge ${Math.round(r.right)} px)`);
  }
  out.push(['page-wide', `the page is ${pw} px wide in a ${vw} px window: ${culprits.slice(0, 3).join('; ') || '?'}`]);
}
// display equations
const items = (window.MathJax && MathJax.startup && MathJax.startup.document) || null;
for (const m of art.querySelectorAll('mjx-container[display="true"]')) {
  const box = m.closest('div.math') || m.parentElement;
  const svg = m.querySelector('svg');
  const w = svg ? svg.getBoundingClientRect().width : m.scrollWidth;
  const eq = box.querySelector('.eqno');
  const cs = getComputedStyle(box);
  const avail = box.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight)
    - (eq ? eq.getBoundingClientRect().width : 0);
  if (w > avail + 1) {
    let tex = '';
    try { tex = items.getMathItemsWithin(box)[0].math; } catch (e) {}
    out.push(['equation-wide', `${eq ? short(eq.textContent.replace('#', ''), 12) : 'unnumbered'} ${where(box)}: ${Math.round(w)} px in ${Math.round(avail)} px: ${short(tex, 70)}`]);
  }
}
// code blocks
for (const pre of art.querySelectorAll('div.highlight pre')) {
  if (pre.scrollWidth > pre.clientWidth + 1) {
    const lines = pre.textContent.split('\n');
    const longest = lines.reduce((a, b) => (b.length > a.length ? b : a), '');
    const input = pre.closest('.cell_input') ? 'code cell' : (pre.closest('.cell_output') ? 'shown source' : 'code block');
    out.push(['code-wide', `${input} ${where(pre)}: ${pre.scrollWidth} px in ${pre.clientWidth} px, longest line ${longest.length} chars: ${short(longest, 60)}`]);
  }
}
if (!desktop) return out;  // the rest does not depend on the width
// MathJax: every formula typeset, no errors
if (!items) { if (art.querySelector('div.math, span.math')) out.push(['mathjax', 'MathJax did not load']); }
else {
  for (const e of art.querySelectorAll('mjx-merror, [data-mjx-error]'))
    out.push(['mathjax', `error ${where(e)}: ${short(e.getAttribute('data-mjx-error') || e.textContent, 80)}`]);
  for (const d of art.querySelectorAll('div.math, span.math'))
    if (!d.querySelector('mjx-container')) out.push(['mathjax', `not typeset ${where(d)}: ${short(d.textContent, 60)}`]);
}
// images
for (const img of art.querySelectorAll('img')) {
  const alt = (img.getAttribute('alt') || '').trim();
  const name = short(alt || img.getAttribute('src').split('/').pop(), 50);
  if (alt.length < 8 || /\.(png|jpe?g|svg|gif)$|_images\/|^image$|^figure$/i.test(alt))
    out.push(['image-alt', `${where(img)}: alt="${short(alt, 40)}"`]);
  const fig = img.closest('figure, div.figure');
  const cap = fig && fig.querySelector('figcaption, .caption');
  if (!cap || !cap.textContent.trim())
    out.push(['image-caption', `${where(img)}: ${name}`]);
  const r = img.getBoundingClientRect();
  if (desktop && img.naturalWidth > 0 && r.width > 0 && img.naturalWidth * 0.95 > r.width)
    out.push(['figure-scaled', `${where(img)}: drawn ${img.naturalWidth} px, shown ${Math.round(r.width)} px (${Math.round(100 * r.width / img.naturalWidth)} %): ${name}`]);
}
// exercise answers stay in a toggle labelled Solution
const ex = art.querySelector('section#exercises');
if (ex) for (const s of ex.querySelectorAll('details summary, .toggle-button')) {
  const label = short((s.querySelector('.collapsed') || s).textContent, 40);
  if (label !== 'Solution') out.push(['solution-label', `toggle labelled "${label}"`]);
}
return out;
"""


def _inspect(drv, site_url: str, page: str) -> list[tuple[str, str, str]]:
    problems = []
    _viewport(drv, "desktop")
    _load(drv, site_url + page)  # MathJax typesets once; the phone view re-lays it out
    for kind in WIDTHS:
        if kind != "desktop":
            _viewport(drv, kind)
            drv.execute_script("return new Promise(r => setTimeout(r, 300));")
        for what, detail in drv.execute_script(INSPECT, kind == "desktop"):
            problems.append((kind, what, detail))
    return problems


SUMMARY: dict[str, list[tuple[str, str, str]]] = {}


def _write_summary() -> str:
    kinds = Counter((w, k) for probs in SUMMARY.values() for w, k, _ in probs)
    lines = ["browser check: problems per kind (width) and page", ""]
    lines += [f"{n:5d}  {k} ({w})" for (w, k), n in sorted(kinds.items())]
    lines.append("")
    for page, probs in SUMMARY.items():
        c = Counter(f"{k} ({w})" for w, k, _ in probs)
        lines.append(
            f"{page}: "
            + (", ".join(f"{k} {n}" for k, n in sorted(c.items())) or "clean")
        )
    text = "\n".join(lines) + "\n"
    if HTML is not None:
        (HTML.parent / "browser-check.txt").write_text(text, encoding="utf-8")
    return text


@pytest.mark.parametrize("page", _pages() or ["(no built book)"])
def test_page_reads_well(browser, site, page):
    problems = _inspect(browser, site, page)
    SUMMARY[page] = problems
    _write_summary()
    failing = [p for p in problems if (p[0], p[1]) not in COUNTED_ONLY]
    assert not failing, f"{page}: {len(failing)} problems\n" + "\n".join(
        f"  [{w}] {k}: {d}" for w, k, d in failing
    )


NAV_PAGES = ("index.html", "chapters/01_perceptron.html")

SIDEBAR_STATE = """
const sel = arguments[0];
const el = document.querySelector(sel);
if (!el) return null;
const r = el.getBoundingClientRect(), cs = getComputedStyle(el);
const vw = document.documentElement.clientWidth;
const shown = cs.display !== 'none' && cs.visibility !== 'hidden' && r.width > 50
  && r.right > 50 && r.left < vw - 50;
return shown;
"""

VISIBLE_BUTTON = """
for (const b of document.querySelectorAll(arguments[0])) {
  const r = b.getBoundingClientRect();
  if (r.width > 0 && r.height > 0 && getComputedStyle(b).visibility !== 'hidden'
      && r.top >= 0 && r.top < window.innerHeight) return b;
}
return null;
"""


def _click(drv, selector: str):
    btn = drv.execute_script(VISIBLE_BUTTON, selector)
    if btn is None:
        return False
    btn.click()  # a real click, at the button's place on the screen
    drv.execute_script("return new Promise(r => setTimeout(r, 600));")
    return True


@pytest.mark.parametrize("page", NAV_PAGES)
def test_sidebar_buttons_work(browser, site, page):
    primary, secondary = ".bd-sidebar-primary", ".bd-sidebar-secondary"
    errors = []
    _viewport(browser, "phone")
    _load(browser, site + page)
    if browser.execute_script(SIDEBAR_STATE, primary):
        errors.append("390 px: the chapter list is open before any click")
    if not _click(browser, "button.primary-toggle, label.primary-toggle"):
        errors.append("390 px: no visible sidebar (☰) button")
    elif not browser.execute_script(SIDEBAR_STATE, primary):
        errors.append("390 px: the ☰ button does not open the chapter list")
    if page.startswith("chapters/"):
        _load(browser, site + page)
        if not _click(browser, "button.secondary-toggle, label.secondary-toggle"):
            errors.append("390 px: no visible page-contents button")
        elif not browser.execute_script(SIDEBAR_STATE, secondary):
            errors.append("390 px: the contents button does not open the page contents")
    _viewport(browser, "desktop")
    _load(browser, site + page)
    if not browser.execute_script(SIDEBAR_STATE, primary):
        errors.append("1280 px: the chapter list is not shown")
    elif not _click(browser, "button.primary-toggle, label.primary-toggle"):
        errors.append("1280 px: no visible sidebar (☰) button")
    elif browser.execute_script(SIDEBAR_STATE, primary):
        errors.append("1280 px: the ☰ button does not collapse the chapter list")
    searches = browser.execute_script(
        "return [...document.querySelectorAll('form.bd-search, .search-button-field,"
        " button.search-button')].filter(e => e.getBoundingClientRect().width > 0).length;"
    )
    if searches > 1:
        errors.append(
            f"1280 px: {searches} search boxes on the page (an extra top bar)"
        )
    assert not errors, f"{page}: " + "; ".join(errors)


def test_summary_is_written():
    """Print the per-kind, per-page counts (also in browser-check.txt)."""
    if not SUMMARY:
        pytest.skip("no page was inspected")
    print("\n" + _write_summary())
