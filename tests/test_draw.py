"""The page "Draw a digit": one preprocessing in Python (mnistlib.draw) and JavaScript (draw_digit.js), the networks'
ONNX export, and the page itself in headless Chromium.

Without the book: the reference preprocessing's promises, the JavaScript run by Node on the same strokes (same
28x28 image within one grey level; skipped where Node is missing), and a Normalization layer exported to ONNX.
On the strict smoke build (marked ``book``, the site and browser of tests/test_site.py): the page's own JavaScript
against the Python reference, 200 test10k digits through the page's networks against Keras (within 1e-4, same
class), a 1, a 0 and a 7 drawn with the mouse and classified by the CNN, every request answered by the site itself,
and the figures a reader meets (page weight, time to first prediction, time per prediction) written to
_build/draw_a_digit/figures.json.
"""

import json
import shutil
import subprocess
import time

import numpy as np
import pytest
from conftest import HTML, ROOT
from test_site import browser, site  # noqa: F401  (the fixtures, shared with the site's test)

from mnistlib import chapters, draw

JS = ROOT / "book" / "_ext" / "static" / "draw" / "draw_digit.js"
PAGE = "book/draw_a_digit.html"
#: Screenshots of the drawn digits and the figures measured (test_site.py empties _build/screenshots: not there).
OUT = ROOT / "_build" / chapters.DRAW_A_DIGIT


def random_strokes(seed: int) -> list[list[list[float]]]:
    """One to three strokes of 1 to 40 points on the canvas, some of them single points."""
    rng = np.random.default_rng(seed)
    strokes = []
    for _ in range(rng.integers(1, 4)):
        start = rng.uniform(15, draw.CANVAS - 15, size=2)
        steps = rng.normal(0, 8, size=(rng.integers(0, 40), 2))
        points = np.clip(np.vstack([start, start + np.cumsum(steps, axis=0)]), -5, draw.CANVAS + 5)
        strokes.append(points.round(2).tolist())
    return strokes


#: Strokes shaped as digits on the 280x280 canvas, for the drawing test: (x, y) points per stroke.
DIGIT_STROKES = {
    1: [[[140, 40], [140, 240]]],
    0: [[[140, 40], [185, 60], [205, 140], [185, 220], [140, 240], [95, 220], [75, 140], [95, 60], [140, 40]]],
    7: [[[80, 50], [200, 50], [150, 150], [120, 240]]],
}


def test_preprocessing_fits_the_box_and_centres_the_mass():
    for seed in range(20):
        steps = draw.preprocess_steps(draw.rasterise(random_strokes(seed)))
        assert max(steps.fitted.shape) == draw.BOX and min(steps.fitted.shape) >= 1
        image = steps.image.astype(float)
        assert image.shape == (draw.SIZE, draw.SIZE) and image.max() > 0
        cy, cx = draw.centre_of_mass(image)
        # whole-pixel shifts leave the centre within half a pixel; rounding to grey levels moves it a hair
        assert abs(cy - 13.5) <= 0.55 and abs(cx - 13.5) <= 0.55, (seed, cy, cx)
    assert not draw.preprocess(np.zeros((draw.CANVAS, draw.CANVAS))).any()


def test_preprocessing_gives_back_an_mnist_digit_drawn_again_larger():
    from mnistlib import datasets

    digit = datasets.load_qmnist("test10k").images[0]
    again = draw.preprocess(draw.ink_from_digit(digit, height=280, top=0, left=0))
    once = draw.preprocess(digit.astype(float) / 255)  # MNIST's digit is already in its 20x20 box, centred
    assert np.abs(again.astype(int) - once.astype(int)).mean() < 8, np.abs(again.astype(int) - once.astype(int)).mean()


def test_resampling_keeps_the_ink():
    rng = np.random.default_rng(0)
    image = rng.random((57, 31))
    for h, w in ((20, 11), (28, 28), (3, 90)):
        out = draw.resample(image, h, w)
        assert np.isclose(out.sum() * (57 / h) * (31 / w), image.sum())


NODE = shutil.which("node")


@pytest.mark.skipif(NODE is None, reason="Node.js is not installed (make npm installs it)")
def test_javascript_in_node_gives_the_same_images_as_python():
    cases = [random_strokes(seed) for seed in range(12)] + list(DIGIT_STROKES.values())
    script = (
        f"const d = require({json.dumps(str(JS))});"
        "const cases = JSON.parse(require('fs').readFileSync(0, 'utf8'));"
        "console.log(JSON.stringify(cases.map((s) => { const ink = d.rasterise(s);"
        " return [Array.from(d.preprocess(ink)), Array.from(d.shrinkOnly(ink))]; })));"
    )
    out = subprocess.run([NODE, "-e", script], input=json.dumps(cases), capture_output=True, text=True, check=True)
    for strokes, (js_image, js_shrunk) in zip(cases, json.loads(out.stdout)):
        ink = draw.rasterise(strokes)
        assert np.abs(np.array(js_image) - draw.preprocess(ink).ravel().astype(int)).max() <= 1
        assert np.abs(np.array(js_shrunk) - draw.shrink_only(ink).ravel().astype(int)).max() <= 1


def test_a_normalization_layer_is_exported_as_constants(tmp_path):
    import keras

    from mnistlib import models, web

    model = models.softmax_regression()
    x = np.random.default_rng(0).random((16, 28, 28, 1)).astype(np.float32)
    gap = web.export_onnx(model, tmp_path / "softmax.onnx", x)
    assert gap < 1e-5, gap
    assert not any(isinstance(layer, keras.layers.Normalization) for layer in web.exportable(model).layers)


def test_the_jupyterlab_widget_classifies_the_strokes_in_the_kernel(monkeypatch):
    from mnistlib import models, web, widget

    model = models.softmax_regression()
    monkeypatch.delenv("MNISTBOOK_BUILD", raising=False)
    w = widget.canvas({"softmax_regression": ("softmax regression", model)})
    assert isinstance(w, widget.DrawDigitWidget)
    w.strokes = DIGIT_STROKES[7]
    image = draw.preprocess(draw.rasterise(DIGIT_STROKES[7]))
    assert w.result["image"] == image.ravel().tolist()
    expected = web.probabilities(model, image[None, :, :, None].astype(np.float32) / 255)[0]
    assert np.allclose(w.result["probabilities"]["softmax regression"], expected, atol=1e-6)
    w.raw = True
    assert w.result["image"] == draw.shrink_only(draw.rasterise(DIGIT_STROKES[7])).ravel().tolist()
    w.strokes = []
    assert w.result == {}
    monkeypatch.setenv("MNISTBOOK_BUILD", "1")
    assert "draw_digit.js" in widget.canvas({}).data


# ------------------------------------------------------------------------------------------ the page in the browser


@pytest.fixture(scope="module")
def page(browser, site):  # noqa: F811
    """The page loaded, its networks ready: (driver, url, seconds from navigation to the first prediction)."""
    from selenium.webdriver.support.ui import WebDriverWait

    url = f"{site}/{PAGE}"
    start = time.perf_counter()
    browser.get(url)
    WebDriverWait(browser, 120).until(
        lambda d: d.execute_script("return !!(window.DrawDigit && DrawDigit.state.sessions.length)")
    )
    browser.execute_script("window.__first = DrawDigit.classify(new Uint8Array(784)).then(() => true)")
    WebDriverWait(browser, 60).until(lambda d: d.execute_script("return window.__first && true"))
    return browser, url, time.perf_counter() - start


def run_async(driver, script: str, *args):
    """The value of ``script``'s promise (its body is an async function of ``args``), through Selenium."""
    wrapper = (
        "const done = arguments[arguments.length - 1];"
        f"(async (...args) => {{ {script} }})(...Array.from(arguments).slice(0, -1))"
        ".then(done, (e) => done({error: String(e)}));"
    )
    driver.set_script_timeout(600)
    result = driver.execute_async_script(wrapper, *args)
    if isinstance(result, dict) and "error" in result:
        raise AssertionError(result["error"])
    return result


def manifest() -> list[dict]:
    return json.loads((HTML / "_static" / "draw" / "models" / "models.json").read_text())["models"]


@pytest.mark.book
@pytest.mark.timeout(1800)
def test_the_pages_javascript_preprocesses_as_python(page):
    driver, _, _ = page
    cases = [random_strokes(100 + seed) for seed in range(6)] + list(DIGIT_STROKES.values())
    answers = run_async(
        driver,
        "return args[0].map((s) => { const ink = DrawDigit.rasterise(s);"
        " return [Array.from(DrawDigit.preprocess(ink)), Array.from(DrawDigit.shrinkOnly(ink))]; });",
        cases,
    )
    for strokes, (image, shrunk) in zip(cases, answers):
        ink = draw.rasterise(strokes)
        assert np.abs(np.array(image) - draw.preprocess(ink).ravel().astype(int)).max() <= 1
        assert np.abs(np.array(shrunk) - draw.shrink_only(ink).ravel().astype(int)).max() <= 1


@pytest.mark.book
@pytest.mark.timeout(1800)
def test_the_pages_networks_give_kerass_probabilities(page):
    from mnistlib import book_models, datasets, profiles, web

    driver, _, _ = page
    images = datasets.load_qmnist("test10k").images[:200]
    start = time.perf_counter()
    answers = run_async(driver, "return await DrawDigit.classifyMany(args[0]);", images.reshape(200, -1).tolist())
    per_digit = (time.perf_counter() - start) / len(images)
    profile = profiles.get_profile().name
    for entry in manifest():
        model = book_models.book_model(entry["name"], profile)[0].model
        expected = web.probabilities(model, datasets.as_float(images))
        got = np.array([a[entry["name"]] for a in answers])
        assert np.abs(got - expected).max() < 1e-4, (entry["name"], np.abs(got - expected).max())
        assert (got.argmax(1) == expected.argmax(1)).all(), entry["name"]
    record({"seconds_per_digit_all_networks_200_test_digits": round(per_digit, 4)})


def draw_strokes(driver, canvas, strokes):
    """Draw ``strokes`` (canvas pixels; the canvas is shown at its own size) with the mouse."""
    from selenium.webdriver.common.action_chains import ActionChains

    half = draw.CANVAS / 2
    for stroke in strokes:
        actions = ActionChains(driver, duration=10)
        x, y = stroke[0]
        actions.move_to_element_with_offset(canvas, int(x - half), int(y - half)).click_and_hold()
        for (x0, y0), (x1, y1) in zip(stroke, stroke[1:]):
            for t in np.linspace(0, 1, 8)[1:]:  # short moves, as a hand's pointer events come
                actions.move_to_element_with_offset(
                    canvas, int(x0 + t * (x1 - x0) - half), int(y0 + t * (y1 - y0) - half)
                )
        actions.release().perform()


@pytest.mark.book
@pytest.mark.timeout(1800)
def test_digits_drawn_with_the_mouse_are_classified_by_the_cnn(page):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver, _, _ = page
    container = driver.find_element(By.CSS_SELECTOR, "div.draw-digit")
    canvas = container.find_element(By.CSS_SELECTOR, "canvas.draw-digit-canvas")
    clear = container.find_element(By.CSS_SELECTOR, "button.draw-digit-clear")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", canvas)
    assert canvas.size == {"width": draw.CANVAS, "height": draw.CANVAS}, canvas.size
    said, per_prediction = {}, []
    for digit, strokes in DIGIT_STROKES.items():
        clear.click()
        WebDriverWait(driver, 10).until(lambda d: not container.get_attribute("data-predictions"))
        n_before = driver.execute_script("return DrawDigit.state.timings.predictions_ms.length")
        draw_strokes(driver, canvas, strokes)
        WebDriverWait(driver, 30).until(lambda d: container.get_attribute("data-predictions"))
        time.sleep(0.5)  # the last pointer event's prediction
        said[digit] = json.loads(container.get_attribute("data-predictions"))
        per_prediction += driver.execute_script("return DrawDigit.state.timings.predictions_ms")[n_before:]
        OUT.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(OUT / f"drawn_{digit}.png"))
    record({"ms_per_prediction_all_networks_median_while_drawing": round(float(np.median(per_prediction)), 2)})
    assert all(said[d]["simple_cnn"] == d for d in DIGIT_STROKES), said


@pytest.mark.book
@pytest.mark.timeout(1800)
def test_every_request_of_the_page_is_answered_by_the_site(page):
    driver, url, to_first = page
    origin = url.split("/book/")[0]
    resources = driver.execute_script("return performance.getEntriesByType('resource').map((e) => e.name)")
    outside = [r for r in resources if not r.startswith(origin) and not r.startswith("data:")]
    assert not outside, outside
    loaded = {r.rsplit("/", 1)[-1] for r in resources}
    assert {"ort-wasm-simd-threaded.wasm", "ort.wasm.min.js"} <= loaded, loaded
    assert {m["file"] for m in manifest()} <= loaded, loaded
    weight = sum(f.stat().st_size for f in (HTML / "_static" / "draw").rglob("*") if f.is_file())
    timings = driver.execute_script("return DrawDigit.state.timings")
    record(
        {
            "page_weight_added_bytes": weight,
            "seconds_to_first_prediction": round(to_first, 2),
            "ms_loading_networks": round(timings["load_ms"], 1),
        }
    )


def record(figures: dict) -> None:
    """Add ``figures`` to _build/draw_a_digit/figures.json (measured on the machine that ran the tests)."""
    path = OUT / "figures.json"
    OUT.mkdir(parents=True, exist_ok=True)
    known = json.loads(path.read_text()) if path.is_file() else {}
    path.write_text(json.dumps({**known, **figures}, indent=1) + "\n")
