"""Conceptual diagrams drawn by code: an MLP's layers, convolution, pooling, receptive fields, ResNets.

Each function returns a matplotlib figure that a chapter shows with ``display(fig)``.
What a diagram depicts is computed, never typed: the convolution's output map
by a valid cross-correlation in NumPy, the receptive fields from a built
Keras model's layers.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = [
    "mlp_layers",
    "cross_correlate",
    "kernel_sliding",
    "max_pooling",
    "receptive_field_sizes",
    "receptive_fields",
    "bottleneck_block",
    "resnet_parts",
    "resnet_network",
]

#: Colours of the book's diagrams (seaborn's colorblind palette).
_BLUE, _ORANGE, _GREEN, _RED, _PURPLE = "#0173b2", "#de8f05", "#029e73", "#d55e00", "#cc78bc"
_WINDOW_COLOURS = (_BLUE, _ORANGE, _GREEN, _PURPLE)


def _rounded_box(ax, x, y, width, height, facecolor, *, pad=0.05, edgecolor="black", lw=1.0, zorder=None) -> None:
    """A box with rounded corners centred on (x, y): the blocks of the residual-block and whole-network diagrams."""
    from matplotlib.patches import FancyBboxPatch

    ax.add_patch(
        FancyBboxPatch(
            (x - width / 2, y - height / 2),
            width,
            height,
            boxstyle=f"round,pad={pad}",
            facecolor=facecolor,
            edgecolor=edgecolor,
            lw=lw,
            zorder=zorder,
        )
    )


def _bare(ax) -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)


def mlp_layers(
    widths: Sequence[int] = (784, 256, 10),
    labels: Sequence[str] | None = None,
    *,
    shown: int = 5,
    title: str = "A multilayer perceptron",
):
    """The layers of an MLP as columns of units, a few drawn and "..." for the rest, all pairs connected.

    ``widths`` are the layers' sizes from the input to the output; ``labels``
    name them (by default: input pixels, hidden ReLU units, softmax outputs).
    Each column is captioned with its size, and each set of connections with
    its parameter count, weights plus biases. Returns the figure.
    Introduced in chapter 04 (``04_mlp``).
    """
    import matplotlib.pyplot as plt

    widths = [int(w) for w in widths]
    if len(widths) < 2 or min(widths) < 1:
        raise ValueError(f"mlp_layers: need at least two layers of positive width, got {widths}")
    if labels is None:
        labels = ["input pixels"] + ["hidden ReLU units"] * (len(widths) - 2) + ["softmax outputs"]
    if len(labels) != len(widths):
        raise ValueError(f"mlp_layers: {len(labels)} labels for {len(widths)} layers")
    shown = max(3, int(shown))
    fig, ax = plt.subplots(figsize=(2.4 * len(widths) + 1, 4.6))
    ax.set_xlim(-0.6, len(widths) - 0.4)
    ax.set_ylim(-1.9, shown + 0.3)
    ax.axis("off")
    columns = []
    for i, width in enumerate(widths):
        if width <= shown:
            ys = list(np.linspace(shown - 0.5, 0.5, width) if width > 1 else [shown / 2])
            gap = None
        else:  # the first units, a gap with "...", the last unit
            ys = [shown - 0.5 - k for k in range(shown - 2)] + [0.5]
            gap = (ys[-2] + ys[-1]) / 2
        columns.append(ys)
        colour = _BLUE if i == 0 else (_GREEN if i == len(widths) - 1 else _ORANGE)
        ax.scatter([i] * len(ys), ys, s=320, color=colour, edgecolor="black", lw=0.8, zorder=3)
        if gap is not None:
            ax.text(i, gap, "⋮", ha="center", va="center", fontsize=18, zorder=3)
        ax.text(i, -0.35, f"{width:,}", ha="center", va="top", fontsize=11, fontweight="bold")
        ax.text(i, -0.85, labels[i], ha="center", va="top", fontsize=9, wrap=True)
    for i in range(len(widths) - 1):
        for y0 in columns[i]:
            for y1 in columns[i + 1]:
                ax.plot([i, i + 1], [y0, y1], color="0.6", lw=0.5, zorder=1)
        params = widths[i] * widths[i + 1] + widths[i + 1]
        ax.text(
            i + 0.5,
            shown + 0.05,
            f"{widths[i]:,}×{widths[i + 1]:,} + {widths[i + 1]:,}\n= {params:,} parameters",
            ha="center",
            va="bottom",
            fontsize=8,
        )
    ax.set_title(title, pad=28)
    fig.tight_layout()
    return fig


def cross_correlate(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """The valid cross-correlation of a 2-D ``image`` with a 2-D ``kernel`` (what ``Conv2D`` computes, one channel).

    ``out[i, j] = sum over (u, v) of image[i + u, j + v] * kernel[u, v]``, for
    every position where the kernel lies wholly inside the image.
    """
    image, kernel = np.asarray(image, dtype=np.float64), np.asarray(kernel, dtype=np.float64)
    if image.ndim != 2 or kernel.ndim != 2:
        raise ValueError(f"cross_correlate: 2-D image and kernel needed, got {image.shape} and {kernel.shape}")
    kh, kw = kernel.shape
    h, w = image.shape[0] - kh + 1, image.shape[1] - kw + 1
    if h < 1 or w < 1:
        raise ValueError(f"cross_correlate: kernel {kernel.shape} is larger than image {image.shape}")
    out = np.zeros((h, w))
    for u in range(kh):
        for v in range(kw):
            out += kernel[u, v] * image[u : u + h, v : v + w]
    return out


def kernel_sliding(
    image: np.ndarray,
    kernel: np.ndarray,
    position: tuple[int, int] = (10, 10),
    *,
    title: str = "A 3×3 kernel sliding over a digit",
):
    """A digit with the kernel's window at ``position``, the kernel's weights, and the output feature map.

    ``position`` ``(r, c)`` is the top-left pixel of the window, which is also
    the output pixel it produces: the map is the valid cross-correlation
    (:func:`cross_correlate`), so it is smaller than the image by the kernel's
    size minus one. The window, the kernel and the output pixel are outlined in
    the same colour, and the output pixel's value is written as the sum it is.
    Returns the figure. Introduced in chapter 05 (``05_cnn``).
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import ConnectionPatch, Rectangle

    image = np.asarray(image, dtype=np.float64)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    kernel = np.asarray(kernel, dtype=np.float64)
    out = cross_correlate(image, kernel)
    r, c = (int(p) for p in position)
    if not (0 <= r < out.shape[0] and 0 <= c < out.shape[1]):
        raise ValueError(f"kernel_sliding: position {position} is outside the output map {out.shape}")
    kh, kw = kernel.shape
    fig, axes = plt.subplots(1, 3, figsize=(11, 4), gridspec_kw={"width_ratios": [1, 0.75, 1]})
    ax_in, ax_k, ax_out = axes
    ax_in.imshow(image, cmap="gray_r")
    ax_in.add_patch(Rectangle((c - 0.5, r - 0.5), kw, kh, fill=False, edgecolor=_RED, lw=2.5))
    ax_in.set_title(f"input {image.shape[0]}×{image.shape[1]}", fontsize=10)
    lim = float(np.abs(kernel).max()) or 1.0
    ax_k.imshow(kernel, cmap="RdBu_r", vmin=-lim, vmax=lim)
    for (u, v), weight in np.ndenumerate(kernel):
        colour = "white" if abs(weight) > 0.6 * lim else "black"
        ax_k.text(v, u, f"{weight:g}", ha="center", va="center", fontsize=11, color=colour)
    ax_k.add_patch(Rectangle((-0.5, -0.5), kw, kh, fill=False, edgecolor=_RED, lw=2.5))
    ax_k.set_title(f"kernel {kh}×{kw} (weights)", fontsize=10)
    olim = float(np.abs(out).max()) or 1.0
    ax_out.imshow(out, cmap="RdBu_r", vmin=-olim, vmax=olim)
    ax_out.add_patch(Rectangle((c - 0.5, r - 0.5), 1, 1, fill=False, edgecolor=_RED, lw=2.5))
    ax_out.set_title(f"output map {out.shape[0]}×{out.shape[1]}", fontsize=10)
    ax_out.set_xlabel(f"output[{r}, {c}] = Σ window × kernel = {out[r, c]:.3g}", fontsize=9)
    for ax in axes:
        _bare(ax)
    fig.add_artist(
        ConnectionPatch(
            (c + kw - 0.5, r + kh / 2 - 0.5),
            (c - 0.5, r),
            coordsA="data",
            coordsB="data",
            axesA=ax_in,
            axesB=ax_out,
            arrowstyle="->",
            color=_RED,
            lw=1.2,
            connectionstyle="arc3,rad=-0.25",
        )
    )
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def max_pooling(feature_map: np.ndarray | None = None, *, size: int = 2, title: str = "Max pooling, 2×2 windows"):
    """A small feature map with its ``size``×``size`` windows coloured, and the pooled map, each maximum marked.

    ``feature_map`` defaults to a fixed 4×4 example; its height and width must be
    multiples of ``size``. Each window and the output value it pools to share a
    colour; the window's largest value is written in bold. Returns the figure.
    Introduced in chapter 05 (``05_cnn``).
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    if feature_map is None:
        feature_map = np.array([[1, 3, 2, 0], [5, 2, 1, 4], [0, 1, 7, 2], [3, 6, 1, 1]], dtype=float)
    x = np.asarray(feature_map, dtype=np.float64)
    if x.ndim == 3 and x.shape[-1] == 1:
        x = x[..., 0]
    if x.ndim != 2 or x.shape[0] % size or x.shape[1] % size:
        raise ValueError(f"max_pooling: a 2-D map whose sides are multiples of {size} is needed, got {x.shape}")
    oh, ow = x.shape[0] // size, x.shape[1] // size
    pooled = x.reshape(oh, size, ow, size).max(axis=(1, 3))
    fig, (ax_in, ax_out) = plt.subplots(
        1, 2, figsize=(8, 4), gridspec_kw={"width_ratios": [x.shape[1], pooled.shape[1] + 0.5]}
    )
    for i in range(oh):
        for j in range(ow):
            colour = _WINDOW_COLOURS[(i * ow + j) % len(_WINDOW_COLOURS)]
            ax_in.add_patch(
                Rectangle((j * size - 0.5, i * size - 0.5), size, size, facecolor=colour, alpha=0.35, edgecolor="k")
            )
            ax_out.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, facecolor=colour, alpha=0.35, edgecolor="k"))
            ax_out.text(j, i, f"{pooled[i, j]:g}", ha="center", va="center", fontsize=14, fontweight="bold")
            window = x[i * size : (i + 1) * size, j * size : (j + 1) * size]
            u, v = np.unravel_index(np.argmax(window), window.shape)
            for (a, b), value in np.ndenumerate(window):
                bold = (a, b) == (u, v)
                ax_in.text(
                    j * size + b,
                    i * size + a,
                    f"{value:g}",
                    ha="center",
                    va="center",
                    fontsize=14 if bold else 12,
                    fontweight="bold" if bold else "normal",
                )
    for ax, m, label in ((ax_in, x, "feature map"), (ax_out, pooled, "pooled")):
        ax.set_xlim(-0.5, m.shape[1] - 0.5)
        ax.set_ylim(m.shape[0] - 0.5, -0.5)
        ax.set_aspect("equal")
        ax.set_title(f"{label} {m.shape[0]}×{m.shape[1]}", fontsize=10)
        _bare(ax)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def _pair(value) -> tuple[int, int]:
    return (int(value), int(value)) if np.isscalar(value) else (int(value[0]), int(value[1]))


def receptive_field_sizes(model, input_size: int | None = None) -> list[tuple[str, int, int, int]]:
    """Per convolution or pooling layer of ``model``: (layer name, output size, receptive field, jump).

    Read from the built Keras model's layers in order: a layer with a
    ``kernel_size`` (convolution) or a ``pool_size`` (pooling) of size ``k`` and
    stride ``s`` maps an input of side ``n`` to ``floor((n + 2p - k) / s) + 1``
    (``p = 0`` for ``"valid"``; ``"same"`` pads so that the side is
    ``ceil(n / s)``); its receptive field, the side of the input region one output
    unit sees, grows by ``(k - 1)`` times the jump, the distance in input pixels
    between neighbouring units of its input, and the jump is multiplied by
    ``s``. Layers that do not change the spatial grid (activations, batch
    normalisation, augmentation) are skipped; counting stops at the first
    ``Flatten`` or dense layer. ``input_size`` defaults to the model's input height.
    Introduced in chapter 05 (``05_cnn``).
    """
    return [row[:4] for row in _field_geometry(model, input_size)]


def _field_geometry(model, input_size: int | None = None) -> list[tuple[str, int, int, int, int]]:
    """:func:`receptive_field_sizes` plus each layer's offset.

    Output unit ``i`` of a layer sees the input pixels from ``offset + i * jump`` on.
    """
    size = int(input_size if input_size is not None else model.inputs[0].shape[1])
    field, jump, offset, rows = 1, 1, 0, []
    for layer in model.layers:
        config = layer.get_config()
        if type(layer).__name__ in ("Flatten", "Dense", "GlobalAveragePooling2D", "GlobalMaxPooling2D"):
            break
        if "kernel_size" in config:
            k = _pair(config["kernel_size"])[0]
            dilation = _pair(config.get("dilation_rate", 1))[0]
            k = dilation * (k - 1) + 1
        elif "pool_size" in config:
            k = _pair(config["pool_size"])[0]
        else:
            continue
        s = _pair(config.get("strides") or k)[0]
        if config.get("padding", "valid") == "same":
            out = -(-size // s)
            offset -= max((out - 1) * s + k - size, 0) // 2 * jump  # the padding before the first row (as Keras pads)
            size = out
        else:
            size = (size - k) // s + 1
        field += (k - 1) * jump
        jump *= s
        rows.append((layer.name, size, field, jump, offset))
    return rows


def receptive_fields(
    model,
    image: np.ndarray | None = None,
    *,
    centre: tuple[int, int] | None = None,
    title: str | None = None,
):
    """Receptive-field growth through ``model``: nested squares on the 28×28 input grid, and bars per layer.

    The sizes come from :func:`receptive_field_sizes`. Left: for each convolution
    or pooling layer, the output unit whose field is centred nearest ``centre``
    (row, column), its receptive field drawn as a square on the input grid (over
    ``image`` if given); a field reaching past the image (padding) is clipped
    to it. Right: the receptive field per layer, the output size written beside each bar.
    Returns the figure. Introduced in chapter 05 (``05_cnn``).
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    geometry = _field_geometry(model)
    rows = [row[:4] for row in geometry]
    if not rows:
        raise ValueError("receptive_fields: the model has no convolution or pooling layer")
    n = int(model.inputs[0].shape[1])
    cy, cx = centre if centre is not None else (n // 2, n // 2)
    fig, (ax_grid, ax_bar) = plt.subplots(1, 2, figsize=(11, 4.8), gridspec_kw={"width_ratios": [1.3, 1.2]})
    if image is not None:
        img = np.asarray(image, dtype=np.float64)
        ax_grid.imshow(img[..., 0] if img.ndim == 3 else img, cmap="gray_r", alpha=0.5)
    ax_grid.set_xticks(np.arange(-0.5, n, 1), minor=True)
    ax_grid.set_yticks(np.arange(-0.5, n, 1), minor=True)
    ax_grid.grid(which="major", visible=False)
    ax_grid.grid(which="minor", color="0.85", lw=0.4)
    ax_grid.tick_params(which="both", length=0, labelbottom=False, labelleft=False)
    ax_grid.set_xlim(-0.5, n - 0.5)
    ax_grid.set_ylim(n - 0.5, -0.5)
    ax_grid.set_aspect("equal")
    colours = plt.cm.viridis(np.linspace(0.0, 0.9, len(rows)))
    for (name, size, field, jump, offset), colour in zip(reversed(geometry), reversed(colours)):
        # The output unit whose field is centred nearest ``centre``, and the input pixels it sees.
        i = min(max(round((cx - offset - (field - 1) / 2) / jump), 0), size - 1)
        j = min(max(round((cy - offset - (field - 1) / 2) / jump), 0), size - 1)
        left, top = offset + i * jump, offset + j * jump
        x0, y0 = max(left - 0.5, -0.5), max(top - 0.5, -0.5)
        x1, y1 = min(left + field - 0.5, n - 0.5), min(top + field - 0.5, n - 0.5)
        rect = Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, edgecolor=colour, lw=2.2, label=f"{name}: {field}")
        ax_grid.add_patch(rect)
    handles, labels = ax_grid.get_legend_handles_labels()
    ax_grid.legend(handles[::-1], labels[::-1], loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8, frameon=False)
    ax_grid.set_title(f"receptive fields on the {n}×{n} input", fontsize=10)
    names = [r[0] for r in rows]
    fields = [r[2] for r in rows]
    ax_bar.barh(names, fields, color=colours)
    ax_bar.invert_yaxis()
    ax_bar.axvline(n, color="0.4", ls="--", lw=1)
    ax_bar.text(n, -0.6, f" image side ({n})", color="0.3", fontsize=8, va="bottom")
    for i, (_, size, field, jump) in enumerate(rows):
        ax_bar.text(field + 0.3, i, f"{field}×{field}  (output {size}×{size}, jump {jump})", va="center", fontsize=8)
    ax_bar.set_xlim(0, max(max(fields), n) * 1.6)
    ax_bar.set_xlabel("receptive field (input pixels per side)")
    ax_bar.grid(axis="y", visible=False)
    fig.suptitle(title or f"Receptive fields through {model.name}")
    fig.tight_layout()
    return fig


def bottleneck_block(
    filters: tuple[int, int, int] = (64, 64, 256), *, projection: bool = False, title: str = "A bottleneck block"
):
    """A bottleneck residual block as the book's ResNet builds it: 1x1 reduce, 3x3, 1x1 expand (each with BN and a
    PReLU, but the expand's PReLU only in an identity block), the shortcut, the add, a PReLU.

    ``filters`` are the three convolutions' channel counts. With ``projection``
    the shortcut is a 1x1 convolution with batch normalisation (the first block
    of a stage, whose output shape differs from its input's); otherwise it is
    the identity. Returns the figure. Introduced in chapter 08 (``08_resnet_qmnist``).
    """
    import matplotlib.pyplot as plt

    f1, f2, f3 = (int(f) for f in filters)
    fig, ax = plt.subplots(figsize=(6.2, 7.2))
    ax.set_xlim(0, 10)
    ax.set_ylim(-0.6, 11.4)
    ax.axis("off")
    steps = [
        (10.4, "input x", "0.9"),
        (8.7, f"1×1 conv, {f1} filters (reduce)\nBN, PReLU", "#cfe3f2"),
        (6.8, f"3×3 conv, {f2} filters\nBN, PReLU", "#fbe3c0"),
        # mnistlib.models's identity block has a PReLU after its expand BN; a projection (conv) block has none
        (4.9, f"1×1 conv, {f3} filters (expand)\nBN" + ("" if projection else ", PReLU"), "#cfe3f2"),
        (1.6, "PReLU → output", "0.9"),
    ]
    x_main, width, height = 3.8, 4.6, 1.05
    centres = []
    for y, text, colour in steps:
        _rounded_box(ax, x_main, y, width, height, colour)
        ax.text(x_main, y, text, ha="center", va="center", fontsize=10)
        centres.append(y)
    add_y = 3.25
    ax.add_patch(plt.Circle((x_main, add_y), 0.38, facecolor="white", edgecolor="black", lw=1.2, zorder=3))
    ax.text(x_main, add_y, "+", ha="center", va="center", fontsize=18, zorder=4)
    ax.text(x_main - 0.55, add_y, "add: F(x) + x", ha="right", va="center", fontsize=9)

    def arrow(p, q, colour="black"):
        ax.annotate("", xy=q, xytext=p, arrowprops={"arrowstyle": "-|>", "lw": 1.3, "color": colour})

    for upper, lower in zip(centres[:3], centres[1:4]):
        arrow((x_main, upper - height / 2 - 0.05), (x_main, lower + height / 2 + 0.05))
    arrow((x_main, centres[3] - height / 2 - 0.05), (x_main, add_y + 0.4))
    arrow((x_main, add_y - 0.4), (x_main, centres[4] + height / 2 + 0.05))
    ax.text(x_main - width / 2 - 0.2, (centres[1] + centres[3]) / 2, "F(x)", ha="right", va="center", fontsize=12)
    x_side = 8.6
    top = (x_main + width / 2 + 0.05, centres[0])
    ax.plot([top[0], x_side, x_side], [top[1], top[1], add_y], color=_RED, lw=1.6)
    arrow((x_side, add_y), (x_main + 0.4, add_y), colour=_RED)
    if projection:
        _rounded_box(ax, x_side, 6.8, 2.2, 1.6, "#f6d3c2", edgecolor=_RED, zorder=3)
        ax.text(x_side, 6.8, f"projection\n1×1 conv, {f3}\nBN", ha="center", va="center", fontsize=9, zorder=4)
    else:
        ax.text(x_side + 0.15, 6.8, "identity\nshortcut", ha="left", va="center", fontsize=9, color=_RED, rotation=90)
    ax.set_title(title)
    fig.tight_layout()
    return fig


def _shape_text(layer) -> str:
    """A layer's output shape without the batch axis, as the diagrams write it: ``6×6×64``."""
    return "×".join(str(int(n)) for n in layer.output.shape[1:])


def resnet_parts(model) -> list[dict]:
    """The parts of a ResNet built like the book's, read from the model's layers: stem, blocks, head, in order.

    Every part is a dict with ``kind`` (``"stem"``, ``"block"`` or ``"head"``), ``row`` (0 for the stem, the
    stage for a block, one more for the head), ``label`` and ``output`` (its output shape, ``6×6×64``). A block
    also has ``stage``, ``block``, ``filters`` (its three convolutions'), ``strides`` and ``shortcut``:
    ``"projection"`` (a ``_shortcut`` convolution), ``"identity"`` (an ``_add`` of the input) or ``"none"``.
    Blocks are found by their layer names, ``stageS_blockB_reduce`` and its siblings.
    Introduced in chapter 08 (``08_resnet_qmnist``).
    """
    import re

    names = {layer.name: layer for layer in model.layers}
    blocks = sorted(
        (int(m.group(1)), int(m.group(2)))
        for m in (re.fullmatch(r"stage(\d+)_block(\d+)_reduce", name) for name in names)
        if m
    )
    if not blocks or "stem" not in names:
        raise ValueError(f"{model.name}: no stem or no stageS_blockB_reduce layers: not a ResNet built like the book's")
    stem = names["stem"]
    parts = [
        {"kind": "stem", "row": 0, "label": "input", "output": _shape_text(model.layers[0])},
        {
            "kind": "stem",
            "row": 0,
            "label": f"{stem.kernel_size[0]}×{stem.kernel_size[1]} conv, {stem.filters}, stride {stem.strides[0]}"
            + ("\nafter zero padding" if "stem_padding" in names else "")
            + "\nBN, PReLU",
            "output": _shape_text(names.get("stem_prelu", stem)),
        },
    ]
    if "stem_pool" in names:
        pool = names["stem_pool"]
        parts.append(
            {
                "kind": "stem",
                "row": 0,
                "label": f"{pool.pool_size[0]}×{pool.pool_size[1]} max pool, stride {pool.strides[0]}",
                "output": _shape_text(pool),
            }
        )
    for stage, block in blocks:
        name = f"stage{stage}_block{block}"
        reduce, conv, expand = names[f"{name}_reduce"], names[f"{name}_conv"], names[f"{name}_expand"]
        shortcut = "projection" if f"{name}_shortcut" in names else "identity" if f"{name}_add" in names else "none"
        parts.append(
            {
                "kind": "block",
                "row": stage,
                "stage": stage,
                "block": block,
                "filters": (int(reduce.filters), int(conv.filters), int(expand.filters)),
                "strides": int(reduce.strides[0]),
                "shortcut": shortcut,
                "label": f"block {block}\n1×1 {reduce.filters}, 3×3 {conv.filters}, 1×1 {expand.filters}",
                "output": _shape_text(names[f"{name}_out"]),
            }
        )
    head_row = blocks[-1][0] + 1
    for name, label in (("average_pool", "average pool"), ("flatten", "flatten")):
        if name in names:
            size = getattr(names[name], "pool_size", None)
            text = label if size is None else f"{size[0]}×{size[1]} {label}"
            parts.append({"kind": "head", "row": head_row, "label": text, "output": _shape_text(names[name])})
    last = model.layers[-1]
    activation = getattr(getattr(last, "activation", None), "__name__", "")
    parts.append({"kind": "head", "row": head_row, "label": f"dense {activation}".strip(), "output": _shape_text(last)})
    return parts


def resnet_network(model, *, title: str | None = None):
    """The whole ResNet ``model`` as a diagram drawn from its layers (:func:`resnet_parts`): one row for the stem,
    one per stage with its bottleneck blocks, one for the head.

    Each block's box names its three convolutions' filters and its output shape; its shortcut is drawn in red over
    it, labelled ``projection`` (a 1x1 convolution with the block's stride, and batch normalisation) or
    ``identity``; a block without a shortcut has none. Returns the figure.
    Introduced in chapter 08 (``08_resnet_qmnist``).
    """
    import matplotlib.pyplot as plt

    parts = resnet_parts(model)
    rows = sorted({p["row"] for p in parts})
    per_row = {r: [p for p in parts if p["row"] == r] for r in rows}
    n_cols = max(len(v) for v in per_row.values())
    step, box_w, box_h, row_h, left = 2.3, 1.85, 1.0, 2.0, 1.6
    fig, ax = plt.subplots(figsize=(1.0 + 0.82 * (left + n_cols * step), 0.4 + 0.82 * row_h * len(rows)))
    ax.set_xlim(-0.2, left + n_cols * step)
    ax.set_ylim(-row_h * len(rows) + 0.2, 0.6)
    ax.axis("off")
    colours = {"stem": "0.9", "block": "#cfe3f2", "head": "0.9"}

    def arrow(p, q, colour="black", style="-|>"):
        ax.annotate("", xy=q, xytext=p, arrowprops={"arrowstyle": style, "lw": 1.2, "color": colour})

    previous = None  # the bottom-right corner of the box before, and its row
    for r_index, r in enumerate(rows):
        y = -row_h * r_index - 0.55
        row_parts = per_row[r]
        kind = row_parts[0]["kind"]
        first = row_parts[0]
        name = {"stem": "stem", "head": "head"}.get(kind, f"stage {first.get('stage')}")
        if kind == "block":
            name += f"\n{len(row_parts)} block{'s' if len(row_parts) > 1 else ''}"
        ax.text(0.0, y, name, ha="left", va="center", fontsize=10, fontweight="bold")
        for i, part in enumerate(row_parts):
            x = left + i * step + box_w / 2
            _rounded_box(ax, x, y, box_w, box_h, colours[part["kind"]], pad=0.03, lw=0.9)
            ax.text(x, y + 0.08, part["label"], ha="center", va="center", fontsize=7.5)
            ax.text(
                x, y - box_h / 2 + 0.13, f"→ {part['output']}", ha="center", va="center", fontsize=7.5, color="0.25"
            )
            if previous is not None:
                (px, py), same_row = previous, previous[1] == y
                if same_row:
                    arrow((px + box_w / 2 + 0.03, y), (x - box_w / 2 - 0.03, y))
                else:  # down from the last box of the row above, back to the left, down, into this box
                    mid, x_in = py - row_h / 2 + 0.05, x - box_w / 2 - 0.35
                    ax.plot([px, px, x_in, x_in], [py - box_h / 2 - 0.03, mid, mid, y], color="black", lw=1.2)
                    arrow((x_in, y), (x - box_w / 2 - 0.03, y))
            if part["kind"] == "block" and part["shortcut"] != "none":
                top, x0, x1 = y + box_h / 2 + 0.3, x - box_w / 2 - 0.12, x + box_w / 2 + 0.12
                ax.plot([x0, x0, x1], [y, top, top], color=_RED, lw=1.4)
                arrow((x1, top), (x1, y + 0.04), colour=_RED)
                text = (
                    f"projection: 1×1 conv, stride {part['strides']}, BN"
                    if part["shortcut"] == "projection"
                    else "identity"
                )
                ax.text(x, top + 0.04, text, ha="center", va="bottom", fontsize=6.8, color=_RED)
            previous = (x, y)
    ax.set_title(title or f"{model.name}: {model.count_params():,} parameters")
    fig.tight_layout()
    return fig
