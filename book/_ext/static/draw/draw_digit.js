/* Draw a digit: the book's networks classify the reader's handwriting in the page, with no kernel and no server.
 *
 * The preprocessing below is mnistlib/draw.py written again in JavaScript, step for step and in the same 64-bit
 * arithmetic (tests/test_draw.py checks that both give the same 28x28 image within one grey level): strokes into
 * ink, the bounding box, the digit fitted into NIST's 20x20 box by area averaging (the anti-aliasing), placed in
 * 28x28 and shifted so that its centre of mass falls on the centre. The networks are the book's own, exported to
 * ONNX by the build (book/draw_a_digit.ipynb) and run by onnxruntime-web, which the build copies into this site:
 * nothing is fetched from anywhere else.
 *
 * In a page: a <div class="draw-digit" data-models="URL of models.json" data-ort="URL of onnxruntime's folder/">
 * becomes the canvas, the steps and the bars. In Node (the tests) only the preprocessing is exported.
 */
(function (root) {
  "use strict";

  const CANVAS = 280, PEN = 12.0, BOX = 20, SIZE = 28;

  function rasterise(strokes, size, pen, ink) {
    size = size || CANVAS;
    pen = pen === undefined ? PEN : pen;
    ink = ink || new Float64Array(size * size);
    for (const stroke of strokes) {
      const n = stroke.length;
      if (!n) continue;
      const last = n > 1 ? n - 1 : 1;
      for (let k = 0; k < last; k++) {
        const a = stroke[k], b = n > 1 ? stroke[k + 1] : stroke[k];
        segment(ink, size, pen, a[0], a[1], b[0], b[1]);
      }
    }
    return ink;
  }

  /* One segment a-b of the pen into ink (the largest cover wins), as mnistlib.draw.rasterise draws it. */
  function segment(ink, size, pen, ax, ay, bx, by) {
    const reach = pen + 0.5;
    const x0 = Math.max(0, Math.floor(Math.min(ax, bx) - reach)), x1 = Math.min(size, Math.ceil(Math.max(ax, bx) + reach) + 1);
    const y0 = Math.max(0, Math.floor(Math.min(ay, by) - reach)), y1 = Math.min(size, Math.ceil(Math.max(ay, by) + reach) + 1);
    const dx = bx - ax, dy = by - ay, length2 = dx * dx + dy * dy;
    for (let y = y0; y < y1; y++) {
      const py = y + 0.5;
      for (let x = x0; x < x1; x++) {
        const px = x + 0.5;
        let t = 0;
        if (length2 > 0) t = Math.min(Math.max(((px - ax) * dx + (py - ay) * dy) / length2, 0.0), 1.0);
        const ex = px - (ax + t * dx), ey = py - (ay + t * dy);
        const cover = Math.min(Math.max(reach - Math.sqrt(ex * ex + ey * ey), 0.0), 1.0);
        if (cover > ink[y * size + x]) ink[y * size + x] = cover;
      }
    }
  }

  function boundingBox(ink, h, w) {
    let top = -1, bottom = -1, left = w, right = -1;
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        if (ink[y * w + x] > 0) {
          if (top < 0) top = y;
          bottom = y;
          if (x < left) left = x;
          if (x > right) right = x;
        }
      }
    }
    return top < 0 ? null : [top, left, bottom + 1, right + 1];
  }

  function areaWeights(nIn, nOut) {
    const weights = [];
    const step = nIn / nOut;
    for (let i = 0; i < nOut; i++) {
      const start = i * step, stop = (i + 1) * step, row = [];
      for (let j = Math.floor(start); j < Math.min(nIn, Math.ceil(stop)); j++) {
        const overlap = Math.min(stop, j + 1) - Math.max(start, j);
        if (overlap > 0) row.push([j, overlap / step]);
      }
      weights.push(row);
    }
    return weights;
  }

  /* image: h x w (row-major) resampled to height x width by area averaging, rows first, then columns. */
  function resample(image, h, w, height, width) {
    const rows = areaWeights(h, height), cols = areaWeights(w, width);
    const tall = new Float64Array(height * w);
    for (let i = 0; i < height; i++) {
      for (let k = 0; k < w; k++) {
        let s = 0;
        for (const [j, wt] of rows[i]) s += wt * image[j * w + k];
        tall[i * w + k] = s;
      }
    }
    const out = new Float64Array(height * width);
    for (let i = 0; i < height; i++) {
      for (let x = 0; x < width; x++) {
        let s = 0;
        for (const [k, wt] of cols[x]) s += tall[i * w + k] * wt;
        out[i * width + x] = s;
      }
    }
    return out;
  }

  function centreOfMass(image, h, w) {
    let total = 0, sy = 0, sx = 0;
    const rowSums = new Float64Array(h), colSums = new Float64Array(w);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) { rowSums[y] += image[y * w + x]; colSums[x] += image[y * w + x]; }
    for (let y = 0; y < h; y++) total += rowSums[y];
    if (total <= 0) return [(h - 1) / 2, (w - 1) / 2];
    for (let y = 0; y < h; y++) sy += rowSums[y] * y;
    for (let x = 0; x < w; x++) sx += colSums[x] * x;
    return [sy / total, sx / total];
  }

  function toGrey(image) {
    const grey = new Uint8Array(image.length);
    for (let i = 0; i < image.length; i++) grey[i] = Math.floor(Math.min(Math.max(image[i], 0), 1) * 255 + 0.5);
    return grey;
  }

  /* Every step of NIST's preprocessing of the canvas's ink (CANVAS x CANVAS), as mnistlib.draw.preprocess_steps. */
  function preprocessSteps(ink, size) {
    size = size || CANVAS;
    const box = boundingBox(ink, size, size);
    const placed = new Float64Array(SIZE * SIZE);
    if (!box) return { box: null, fitted: null, fh: 0, fw: 0, placed: placed, shift: [0, 0], image: toGrey(placed) };
    const [top, left, bottom, right] = box, h = bottom - top, w = right - left;
    const crop = new Float64Array(h * w);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) crop[y * w + x] = ink[(top + y) * size + left + x];
    const scale = BOX / Math.max(h, w);
    const fh = Math.max(1, Math.floor(h * scale + 0.5)), fw = Math.max(1, Math.floor(w * scale + 0.5));
    const fitted = resample(crop, h, w, fh, fw);
    const py = Math.floor((SIZE - fh) / 2), px = Math.floor((SIZE - fw) / 2);
    for (let y = 0; y < fh; y++) for (let x = 0; x < fw; x++) placed[(py + y) * SIZE + px + x] = fitted[y * fw + x];
    const [cy, cx] = centreOfMass(placed, SIZE, SIZE);
    const dy = Math.floor((SIZE - 1) / 2 - cy + 0.5), dx = Math.floor((SIZE - 1) / 2 - cx + 0.5);
    const centred = new Float64Array(SIZE * SIZE);
    for (let y = 0; y < SIZE; y++) {
      for (let x = 0; x < SIZE; x++) {
        const sy = y - dy, sx = x - dx;
        if (sy >= 0 && sy < SIZE && sx >= 0 && sx < SIZE) centred[y * SIZE + x] = placed[sy * SIZE + sx];
      }
    }
    return { box: box, fitted: fitted, fh: fh, fw: fw, placed: placed, shift: [dy, dx], image: toGrey(centred) };
  }

  function preprocess(ink, size) { return preprocessSteps(ink, size).image; }
  function shrinkOnly(ink, size) { size = size || CANVAS; return toGrey(resample(ink, size, size, SIZE, SIZE)); }

  const api = {
    CANVAS, PEN, BOX, SIZE, rasterise, boundingBox, areaWeights, resample, centreOfMass, toGrey,
    preprocessSteps, preprocess, shrinkOnly,
  };

  if (typeof module !== "undefined" && module.exports) { module.exports = api; return; }

  /* ---------------------------------------------------------------- the page: networks, canvas, steps, bars */

  const state = { sessions: [], ready: null, timings: { load_ms: null, first_prediction_ms: null, predictions_ms: [] } };
  api.state = state;

  /* The models the build exported (models.json beside them) as onnxruntime sessions, loaded once. */
  function load(modelsUrl, ortUrl) {
    if (state.ready) return state.ready;
    const start = performance.now();
    const ort = root.ort;
    ort.env.wasm.wasmPaths = new URL(ortUrl, document.baseURI).href; // relative: to ort's own script, not the page
    ort.env.wasm.numThreads = 1; // no worker threads: GitHub Pages cannot send the cross-origin isolation headers
    ort.env.wasm.proxy = false;
    state.ready = fetch(modelsUrl).then((r) => r.json()).then(async (manifest) => {
      const base = new URL(".", new URL(modelsUrl, document.baseURI)).href;
      for (const m of manifest.models) {
        const session = await ort.InferenceSession.create(base + m.file, { executionProviders: ["wasm"] });
        state.sessions.push({ name: m.name, title: m.title, session: session });
      }
      state.timings.load_ms = performance.now() - start;
      return state.sessions;
    });
    return state.ready;
  }

  /* Each network's ten probabilities for a 28x28 grey image (uint8, 784 values): {name: Float32Array(10)}. */
  async function classify(grey) {
    const sessions = await state.ready;
    const start = performance.now();
    const x = new Float32Array(SIZE * SIZE);
    for (let i = 0; i < x.length; i++) x[i] = grey[i] / 255;
    const out = {};
    for (const s of sessions) {
      const feeds = {};
      feeds[s.session.inputNames[0]] = new root.ort.Tensor("float32", x, [1, SIZE, SIZE, 1]);
      const result = await s.session.run(feeds);
      out[s.name] = Array.from(result[s.session.outputNames[0]].data);
    }
    const ms = performance.now() - start;
    if (state.timings.first_prediction_ms === null) state.timings.first_prediction_ms = performance.now() - state.t0;
    else state.timings.predictions_ms.push(ms);
    return out;
  }
  api.load = load;
  api.classify = classify;
  /* Many digits at once (for the tests): an array of 784-value arrays, answered as an array of {name: probs}. */
  api.classifyMany = async function (digits) {
    const answers = [];
    for (const d of digits) answers.push(await classify(d));
    return answers;
  };

  function el(tag, attrs, parent) {
    const e = document.createElement(tag);
    for (const k in attrs || {}) {
      if (k === "text") e.textContent = attrs[k];
      else e.setAttribute(k, attrs[k]);
    }
    if (parent) parent.appendChild(e);
    return e;
  }

  /* values (h x w, in [0, 1] or 0-255 when grey) painted onto a canvas, black ink on white as the book's figures,
     shown at `shown` CSS pixels on the longer side (the steps at 84; the drawing pad at its own size). */
  function paint(canvas, values, h, w, grey, shown = 84) {
    const ctx = canvas.getContext("2d");
    canvas.width = w;
    canvas.height = h;
    const img = ctx.createImageData(w, h);
    for (let i = 0; i < h * w; i++) {
      const v = 255 - (grey ? values[i] : Math.floor(Math.min(Math.max(values[i], 0), 1) * 255 + 0.5));
      img.data[4 * i] = img.data[4 * i + 1] = img.data[4 * i + 2] = v;
      img.data[4 * i + 3] = 255;
    }
    ctx.putImageData(img, 0, 0);
    const side = shown / Math.max(h, w); // keeping the aspect ratio
    canvas.style.width = Math.round(w * side) + "px";
    canvas.style.height = Math.round(h * side) + "px";
  }

  function mount(div) {
    state.t0 = performance.now();
    load(div.dataset.models, div.dataset.ort);
    div.innerHTML = "";
    const top = el("div", { class: "draw-digit-top" }, div);
    const left = el("div", { class: "draw-digit-pad" }, top);
    const pad = el("canvas", { class: "draw-digit-canvas", width: CANVAS, height: CANVAS, "aria-label": "drawing area" }, left);
    const buttons = el("div", { class: "draw-digit-buttons" }, left);
    const clear = el("button", { type: "button", class: "draw-digit-clear", text: "Clear" }, buttons);
    const label = el("label", { class: "draw-digit-switch" }, buttons);
    const raw = el("input", { type: "checkbox", class: "draw-digit-raw" }, label);
    label.appendChild(document.createTextNode(" without the preprocessing"));
    const stepsDiv = el("div", { class: "draw-digit-steps" }, top);
    const titles = ["1. bounding box", "2. fitted into 20x20", "3. placed in 28x28", "4. centre of mass centred",
      "shrunk to 28x28 only"];
    const steps = titles.map((t) => {
      const fig = el("figure", { class: "draw-digit-step" }, stepsDiv);
      const c = el("canvas", { width: SIZE, height: SIZE }, fig);
      el("figcaption", { text: t }, fig);
      return c;
    });
    const bars = el("div", { class: "draw-digit-bars" }, div);
    const status = el("p", { class: "draw-digit-status", text: "Loading the networks…" }, div);

    const ink = new Float64Array(CANVAS * CANVAS);
    let strokes = [], current = null, pending = false;
    const ctx = pad.getContext("2d");
    function redrawPad(box) {
      paint(pad, ink, CANVAS, CANVAS, false, CANVAS); // one CSS pixel per canvas pixel: strokes land where drawn
      if (box) {
        ctx.strokeStyle = "#d62728";
        ctx.lineWidth = 2;
        ctx.strokeRect(box[1] - 0.5, box[0] - 0.5, box[3] - box[1] + 1, box[2] - box[0] + 1);
      }
    }
    redrawPad(null);
    function point(e) {
      const r = pad.getBoundingClientRect();
      return [(e.clientX - r.left) * CANVAS / r.width, (e.clientY - r.top) * CANVAS / r.height];
    }
    pad.addEventListener("pointerdown", (e) => {
      e.preventDefault();
      pad.setPointerCapture(e.pointerId);
      current = [point(e)];
      strokes.push(current);
      rasterise([current], CANVAS, PEN, ink);
      update();
    });
    pad.addEventListener("pointermove", (e) => {
      if (!current) return;
      e.preventDefault();
      const p = point(e), q = current[current.length - 1];
      current.push(p);
      segment(ink, CANVAS, PEN, q[0], q[1], p[0], p[1]);
      update();
    });
    const end = () => { current = null; update(); };
    pad.addEventListener("pointerup", end);
    pad.addEventListener("pointercancel", end);
    clear.addEventListener("click", () => { strokes = []; ink.fill(0); update(); });
    raw.addEventListener("change", () => update());
    pad.style.touchAction = "none";

    const rows = {};
    state.ready.then((sessions) => {
      for (const s of sessions) {
        const block = el("div", { class: "draw-digit-model", "data-model": s.name }, bars);
        el("div", { class: "draw-digit-title", text: s.title }, block);
        const row = el("div", { class: "draw-digit-row" }, block);
        rows[s.name] = [];
        for (let d = 0; d < 10; d++) {
          const col = el("div", { class: "draw-digit-col" }, row);
          const bar = el("div", { class: "draw-digit-bar" }, col);
          el("div", { class: "draw-digit-label", text: String(d) }, col);
          rows[s.name].push(bar);
        }
        el("div", { class: "draw-digit-verdict" }, block);
      }
      status.textContent = "Draw a digit in the box.";
      update();
    }).catch((err) => { status.textContent = "The networks could not be loaded: " + err; });

    function update() {
      if (pending) return;
      pending = true;
      requestAnimationFrame(() => { pending = false; render(); });
    }
    async function render() {
      const s = preprocessSteps(ink, CANVAS);
      const shrunk = shrinkOnly(ink, CANVAS);
      redrawPad(s.box);
      if (s.box) {
        const [t, l, b, r] = s.box, h = b - t, w = r - l, crop = new Float64Array(h * w);
        for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) crop[y * w + x] = ink[(t + y) * CANVAS + l + x];
        paint(steps[0], crop, h, w, false);
        paint(steps[1], s.fitted, s.fh, s.fw, false);
      } else {
        paint(steps[0], new Float64Array(1), 1, 1, false);
        paint(steps[1], new Float64Array(1), 1, 1, false);
      }
      paint(steps[2], s.placed, SIZE, SIZE, false);
      paint(steps[3], s.image, SIZE, SIZE, true);
      paint(steps[4], shrunk, SIZE, SIZE, true);
      const input = raw.checked ? shrunk : s.image;
      steps[3].parentNode.classList.toggle("draw-digit-input", !raw.checked);
      steps[4].parentNode.classList.toggle("draw-digit-input", raw.checked);
      div.dataset.image = Array.from(input).join(",");
      if (!state.sessions.length || !s.box) {
        for (const name in rows) rows[name].forEach((bar) => { bar.style.height = "0"; });
        div.dataset.predictions = "";
        return;
      }
      const probs = await classify(input);
      const verdicts = {};
      for (const name in probs) {
        const p = probs[name];
        let best = 0;
        for (let d = 1; d < 10; d++) if (p[d] > p[best]) best = d;
        rows[name].forEach((bar, d) => {
          bar.style.height = (100 * p[d]).toFixed(1) + "%";
          bar.title = d + ": " + (100 * p[d]).toFixed(1) + "%";
          bar.classList.toggle("draw-digit-best", d === best);
        });
        bars.querySelector('[data-model="' + name + '"] .draw-digit-verdict').textContent =
          "says " + best + " (" + (100 * p[best]).toFixed(1) + "%)";
        verdicts[name] = best;
      }
      div.dataset.predictions = JSON.stringify(verdicts);
    }
  }
  api.mount = mount;
  root.DrawDigit = api;

  function start() { document.querySelectorAll("div.draw-digit").forEach(mount); }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})(typeof window !== "undefined" ? window : globalThis);
