"""The glossary (book/glossary.md) and the links to it: every term the book uses is defined there, and in every
page of the book, read in the order of _toc.yml, the first occurrence of a term in the prose is a link to it
(``{term}`epoch```, or ``{term}`epochs <epoch>```), so that the first use in the book links to it too.

What counts as an occurrence: the words of a term (case-insensitive, whole words, the forms in :data:`TERMS`)
in the prose of a markdown page or of a notebook's markdown cells; not in headings, code, math, the targets of
roles, directive options or link addresses, and not inside a longer term (``batch normalisation`` is not a use
of ``batch``). Words that name something else (a *Jupyter kernel*, not a convolution's) are listed in
:data:`OTHER_MEANINGS`.

Run as a script on pages to list what is missing: ``python tests/test_glossary.py chapters/04_mlp.ipynb``.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
import yaml
from test_layout import _toc_files

ROOT = Path(__file__).resolve().parents[1]
GLOSSARY = ROOT / "book" / "glossary.md"

#: Every term the glossary must define (its entry's name, as the book writes it), with the forms its uses take
#: in prose (regular expressions, matched case-insensitively as whole words).
TERMS: dict[str, tuple[str, ...]] = {
    "epoch": (r"epochs?",),
    "batch": (r"batch(?:es)?", r"mini-?batch(?:es)?"),
    "validation split": (r"validation (?:splits?|sets?)",),
    "test set": (r"test sets?",),
    "overfitting": (r"overfit(?:ting|s)?", r"over-fitting"),
    "regularisation": (
        r"regulari[sz](?:ation|ations|ing|es|e|er|ers)",
        r"L1 regulari[sz]ation",
        r"L2 regulari[sz]ation",
    ),
    "softmax": (r"softmax(?:es)?",),
    "cross-entropy": (r"cross[- ]entropy",),
    "loss": (r"loss(?:es)?", r"loss functions?"),
    "gradient": (r"gradients?",),
    "backend": (r"backends?",),
    "backpropagation": (r"back-?propagation", r"backprop"),
    "SGD": (r"SGD", r"stochastic gradient descent"),
    "learning rate": (r"learning[- ]rates?",),
    "momentum": (r"momentum",),
    "RMSprop": (r"RMSprop",),
    "Adam": (r"Adam",),
    "Nadam": (r"Nadam",),
    "learning rate schedule": (r"learning[- ]rate schedules?", r"schedules?"),
    "cosine decay": (r"cosine decay", r"cosine schedules?"),
    "ReLU": (r"ReLUs?",),
    "sigmoid": (r"sigmoids?",),
    "PReLU": (r"PReLUs?",),
    "dropout": (r"dropout",),
    "convolution": (r"convolutions?", r"convolutional"),
    "kernel": (r"kernels?",),
    "padding": (r"padding", r"padded"),
    "stride": (r"strides?", r"strided"),
    "pooling": (r"pooling", r"pools?"),
    "receptive field": (r"receptive fields?",),
    "data augmentation": (r"data augmentation", r"augmentation", r"augmented"),
    "batch normalisation": (r"batch[- ]normali[sz]ation", r"batch[- ]normali[sz]ed"),
    "residual connection": (r"residual connections?", r"shortcuts?", r"skip connections?"),
    "bottleneck block": (r"bottleneck blocks?", r"bottlenecks?"),
    "ensemble": (r"ensembles?",),
    "confusion matrix": (r"confusion matri(?:x|ces)",),
    "integrated gradients": (r"integrated gradients",),
    "EMA": (r"EMA", r"exponential moving averages?"),
    "feature map": (r"feature maps?",),
    "Jacobian": (r"Jacobians?",),
    "logits": (r"logits?",),
    "one-hot": (r"one-hot",),
    "support vector machine": (r"support vector machines?", r"SVMs?"),
    "Wilson interval": (r"Wilson (?:score )?intervals?",),
}

#: Phrases in which a term's word names something else; masked before terms are looked for.
OTHER_MEANINGS = (
    r"(?:Jupyter|Python|IPython|the project's|project's|notebook's|a notebook's|its) kernels?",
    r"kernels? (?:spec|specs|name|names|display name)",
    r"kernel(?:'s)? (?:restart|interrupt|menu)",
    r"restart(?:ing)? the kernel",
    r"kernel (?:inherits|runs|starts|restarts|dies)",
    r"running kernels?",
    r"thread pools?",
    r"process pools?",
)

#: Where a term's first use may stand unlinked: in a heading (linked in the sentence that follows).
HEADING = re.compile(r"^\s{0,3}#{1,6}\s.*$", re.M)
#: Text that is not prose: fenced code blocks (directives use ::: in this book: their bodies are prose), a
#: directive's opening and option lines, math; then (:data:`CODE_OR_ROLE`) inline code and roles other than
#: {term} (their text is a name, a key or a citation); then link addresses and HTML tags.
NOT_PROSE = (
    re.compile(r"^```.*?^```", re.M | re.S),
    re.compile(r"^\s*:::+\s*\{[\w:-]+\}.*$", re.M),
    re.compile(r"^\s*:[\w-]+:.*$", re.M),
    re.compile(r"\$\$.*?\$\$", re.S),
    re.compile(r"\$[^$\n]+\$"),
)
CODE_OR_ROLE = re.compile(r"(\{[\w:-]+\})?`[^`\n]*`")
LINKS = (re.compile(r"\]\([^)]*\)"), re.compile(r"<[A-Za-z/!][^>\n]*>"))
TERM_ROLE = re.compile(r"\{term\}`([^`<]*?)(?:\s*<([^>`]+)>)?`")


def glossary_terms(path: Path = GLOSSARY) -> list[str]:
    """The terms book/glossary.md defines: the unindented lines of its ``glossary`` directive."""
    text = path.read_text()
    block = re.search(r"^:::+\{glossary\}[^\n]*\n(.*?)^:::+\s*$", text, re.M | re.S) or re.search(
        r"^```\{glossary\}[^\n]*\n(.*?)^```\s*$", text, re.M | re.S
    )
    assert block, f"{path}: no ```{{glossary}} directive"
    return [line.strip() for line in block.group(1).splitlines() if line.strip() and not line[0].isspace()]


def _pattern(forms: tuple[str, ...]) -> re.Pattern:
    return re.compile(r"(?<![\w-])(?:" + "|".join(forms) + r")(?![\w-])", re.I)


PATTERNS = {term: _pattern(forms) for term, forms in TERMS.items()}
#: Longer terms first: their words are masked before a shorter term inside them is looked for.
ORDER = sorted(TERMS, key=lambda t: -max(len(f) for f in TERMS[t]))


def _mask(text: str, pattern: re.Pattern) -> str:
    return pattern.sub(lambda m: " " * len(m.group(0)), text)


def page_prose(path: Path) -> str:
    """The markdown of a page: a .md file, or a notebook's markdown cells joined in order."""
    if path.suffix == ".ipynb":
        cells = json.loads(path.read_text())["cells"]
        return "\n\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    text = path.read_text()
    return re.sub(r"\A---\n.*?\n---\n", "", text, flags=re.S)  # front matter


def first_uses(text: str) -> dict[str, tuple[int, bool, str]]:
    """For each term used in ``text``: (position, linked?, the words) of its first use, a link or plain words."""
    for pattern in NOT_PROSE:
        text = _mask(text, pattern)
    canonical = {t.lower(): t for t in TERMS}
    found: dict[str, tuple[int, bool, str]] = {}
    for m in CODE_OR_ROLE.finditer(text):
        role = TERM_ROLE.fullmatch(m.group(0)) if m.group(1) == "{term}" else None
        if role:
            term = canonical.get((role.group(2) or role.group(1)).strip().lower())
            if term and term not in found:
                found[term] = (m.start(), True, m.group(0))
    text = _mask(text, CODE_OR_ROLE)
    for pattern in (*LINKS, HEADING, *(re.compile(p, re.I) for p in OTHER_MEANINGS)):
        text = _mask(text, pattern)
    for term in ORDER:
        pattern = PATTERNS[term]
        m = pattern.search(text)
        if m and (term not in found or m.start() < found[term][0]):
            found[term] = (m.start(), False, m.group(0))
        text = _mask(text, pattern)
    return found


def unlinked_first_uses(path: Path) -> list[str]:
    """What a page must fix: each term whose first use in it is not a {term} link, with its context."""
    text = page_prose(path)
    problems = []
    for term, (pos, linked, words) in sorted(first_uses(text).items(), key=lambda kv: kv[1][0]):
        if not linked:
            line = text.count("\n", 0, pos) + 1
            context = text[max(0, pos - 40) : pos + len(words) + 40].replace("\n", " ")
            problems.append(
                f"{path.relative_to(ROOT)}: {term!r} first used unlinked as {words!r} (line {line}): ...{context}..."
            )
    return problems


def reading_order() -> list[Path]:
    """The book's pages in the order of _toc.yml."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    pages = []
    for name in [toc["root"], *_toc_files(toc)]:
        path = next((ROOT / f"{name}{s}" for s in (".md", ".ipynb") if (ROOT / f"{name}{s}").exists()), None)
        if path is not None and path != GLOSSARY:
            pages.append(path)
    return pages


def test_the_glossary_is_in_the_book_and_defines_every_term():
    toc = (ROOT / "_toc.yml").read_text()
    assert "file: book/glossary" in toc, "_toc.yml does not list book/glossary"
    defined = {t.lower() for t in glossary_terms()}
    missing = [t for t in TERMS if t.lower() not in defined]
    assert not missing, f"book/glossary.md does not define {missing}"


def test_every_link_names_a_defined_term():
    defined = {t.lower() for t in glossary_terms()}
    wrong = []
    for path in reading_order():
        for m in TERM_ROLE.finditer(page_prose(path)):
            target = (m.group(2) or m.group(1)).strip().lower()
            if target not in defined:
                wrong.append(f"{path.relative_to(ROOT)}: {m.group(0)}")
    assert not wrong, "links to terms the glossary does not define:\n" + "\n".join(wrong)


@pytest.mark.parametrize("page", reading_order(), ids=lambda p: p.stem)
def test_the_first_use_of_each_term_on_a_page_links_to_the_glossary(page):
    problems = unlinked_first_uses(page)
    assert not problems, "\n".join(problems)


def test_the_first_use_in_reading_order_is_a_link():
    seen: dict[str, str] = {}
    problems = []
    for path in reading_order():
        for term, (_, linked, words) in first_uses(page_prose(path)).items():
            if term in seen:
                continue
            seen[term] = path.stem
            if not linked:
                problems.append(f"{term!r} is first used in {path.relative_to(ROOT)} as {words!r}, unlinked")
    assert not problems, "\n".join(problems)


def test_a_first_use_is_found_and_a_link_is_recognised():
    uses = first_uses("An epoch, then {term}`epochs <epoch>`; a {term}`batch` of the batch normalisation layer.")
    assert uses["epoch"][1] is False and uses["epoch"][2] == "epoch"
    assert uses["batch"][1] is True
    assert uses["batch normalisation"][1] is False
    uses = first_uses(
        "## Dropout\n\nThe `dropout` layer and $\\mathrm{dropout}$, then {term}`dropout` and the Jupyter kernel."
    )
    assert uses["dropout"][1] is True and "kernel" not in uses


if __name__ == "__main__":
    pages = [Path(p).resolve() for p in sys.argv[1:]] or reading_order()
    problems = [p for page in pages for p in unlinked_first_uses(page)]
    print("\n".join(problems) or "every first use is linked")
    sys.exit(1 if problems else 0)
