"""The canvas of the page "Draw a digit" in JupyterLab: an anywidget whose strokes the kernel preprocesses and
classifies with its own Keras models.

The HTML book runs the networks in the reader's browser (``draw_digit.js`` and onnxruntime-web); in JupyterLab
there is a kernel, so this widget only draws: each stroke goes to the kernel, which rasterises the strokes,
preprocesses them with :mod:`mnistlib.draw` (the reference the page's JavaScript is tested against) and sends
back the 28x28 image and each network's ten probabilities. :func:`canvas` picks the one that fits where the
notebook runs. Introduced in the page "Draw a digit" (``draw_a_digit``).
"""

from __future__ import annotations

import os

import anywidget
import keras
import numpy as np
import traitlets
from IPython.display import HTML

from . import draw, web

__all__ = ["DrawDigitWidget", "canvas"]

_ESM = """
const SIZE = 280, PEN = __PEN__;
function render({ model, el }) {
  const root = document.createElement("div");
  root.className = "draw-digit-widget";
  const pad = document.createElement("canvas");
  pad.width = pad.height = SIZE;
  pad.style.cssText = "width:280px;height:280px;border:1px solid #888;touch-action:none;cursor:crosshair";
  const ctx = pad.getContext("2d");
  const bar = document.createElement("div");
  const clear = document.createElement("button");
  clear.textContent = "Clear";
  const label = document.createElement("label");
  const raw = document.createElement("input");
  raw.type = "checkbox";
  label.append(raw, " without the preprocessing");
  bar.append(clear, " ", label);
  const seen = document.createElement("canvas");
  seen.width = seen.height = 28;
  seen.style.cssText = "width:112px;height:112px;image-rendering:pixelated;border:1px solid #ccc;margin:0 1rem";
  const bars = document.createElement("pre");
  bars.className = "draw-digit-widget-bars";
  const top = document.createElement("div");
  top.style.cssText = "display:flex;align-items:flex-start;flex-wrap:wrap";
  const left = document.createElement("div");
  left.append(pad, bar);
  top.append(left, seen, bars);
  root.append(top);
  el.append(root);
  let strokes = [], current = null;
  function redraw() {
    ctx.fillStyle = "white"; ctx.fillRect(0, 0, SIZE, SIZE);
    ctx.strokeStyle = ctx.fillStyle = "black"; ctx.lineWidth = 2 * PEN; ctx.lineCap = ctx.lineJoin = "round";
    for (const s of strokes) {
      ctx.beginPath(); ctx.moveTo(s[0][0], s[0][1]);
      for (const p of s.slice(1)) ctx.lineTo(p[0], p[1]);
      if (s.length === 1) { ctx.arc(s[0][0], s[0][1], PEN, 0, 2 * Math.PI); ctx.fill(); } else ctx.stroke();
    }
  }
  function point(e) {
    const r = pad.getBoundingClientRect();
    return [(e.clientX - r.left) * SIZE / r.width, (e.clientY - r.top) * SIZE / r.height];
  }
  pad.addEventListener("pointerdown", (e) => {
    pad.setPointerCapture(e.pointerId); current = [point(e)]; strokes.push(current); redraw();
  });
  pad.addEventListener("pointermove", (e) => { if (current) { current.push(point(e)); redraw(); } });
  const send = () => {
    if (!current) return;
    current = null; model.set("strokes", strokes.map((s) => s.slice())); model.save_changes();
  };
  pad.addEventListener("pointerup", send);
  pad.addEventListener("pointercancel", send);
  clear.addEventListener("click", () => { strokes = []; redraw(); model.set("strokes", []); model.save_changes(); });
  raw.addEventListener("change", () => { model.set("raw", raw.checked); model.save_changes(); });
  function show() {
    const r = model.get("result") || {};
    const sctx = seen.getContext("2d"), img = sctx.createImageData(28, 28), grey = r.image || [];
    for (let i = 0; i < 784; i++) { const v = 255 - (grey[i] || 0); img.data.set([v, v, v, 255], 4 * i); }
    sctx.putImageData(img, 0, 0);
    const lines = [];
    for (const [title, p] of Object.entries(r.probabilities || {})) {
      let best = 0; p.forEach((v, d) => { if (v > p[best]) best = d; });
      lines.push(title + ": says " + best);
      p.forEach((v, d) => lines.push(`  ${d} ${"#".repeat(Math.round(30 * v))} ${(100 * v).toFixed(1)}%`));
    }
    bars.textContent = lines.join("\\n");
  }
  model.on("change:result", show);
  redraw(); show();
}
export default { render };
""".replace("__PEN__", repr(draw.PEN))


class DrawDigitWidget(anywidget.AnyWidget):
    """A canvas whose strokes the kernel preprocesses (:func:`mnistlib.draw.preprocess`, or only shrinks when
    ``raw``) and classifies with ``networks`` ({name: (title, Keras model)}); ``result`` holds the 28x28 image
    the networks saw (784 grey levels) and each network's ten probabilities, by title."""

    _esm = _ESM
    strokes = traitlets.List([]).tag(sync=True)
    raw = traitlets.Bool(False).tag(sync=True)
    result = traitlets.Dict({}).tag(sync=True)

    def __init__(self, networks: dict[str, tuple[str, keras.Model]], **kwargs):
        super().__init__(**kwargs)
        self._networks = networks
        self.observe(self._classify, names=["strokes", "raw"])

    def _classify(self, _change=None) -> None:
        ink = draw.rasterise(self.strokes)
        image = draw.shrink_only(ink) if self.raw else draw.preprocess(ink)
        if not image.any():
            self.result = {}
            return
        x = (image.astype(np.float32) / 255)[None, :, :, None]
        self.result = {
            "image": image.ravel().tolist(),
            "probabilities": {t: web.probabilities(m, x)[0].tolist() for t, m in self._networks.values()},
        }


def canvas(networks: dict[str, tuple[str, keras.Model]]):
    """What the page's canvas cell shows: in a build of the book (``MNISTBOOK_BUILD`` set, as the Makefile sets
    it), the HTML of :func:`mnistlib.web.canvas_html`, run in the reader's browser; elsewhere (JupyterLab) a
    :class:`DrawDigitWidget` run by this kernel."""
    if os.environ.get("MNISTBOOK_BUILD", "").strip():
        return HTML(web.canvas_html())
    return DrawDigitWidget(networks)
