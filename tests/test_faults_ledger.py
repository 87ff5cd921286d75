"""Faults in the results ledger: a damaged ledger or reference file is refused on read and never rewritten.

Issue "Nothing lost, nothing silent": a ledger cut by a crash, a bad copy or a hand edit used to load with
empty or shifted values (or raise a raw pandas/Unicode error naming no file), and the next ``record`` wrote the
damage back. Now every read is validated and a damaged file is left exactly as it is.
"""

import ast
import html
import json
import re
import types

import pandas as pd
import pytest
from conftest import ROOT

from mnistlib import bench, chapters, results, training


@pytest.fixture
def ledger(tmp_path, monkeypatch):
    """A valid three-row smoke ledger under tmp_path; returns its path."""
    monkeypatch.setenv(training.ARTIFACTS_ENV, str(tmp_path))
    for i, model in enumerate(["a", "b", "c"]):
        results.record(
            chapter=chapters.LINEAR_MODELS,
            model=model,
            profile="smoke",
            params=7850,
            test_accuracy=0.9 + i / 100,
            epochs=2,
            data="MNIST (verified)",
            backend="tensorflow",
            recorded_at="2026-01-01 00:00:00",
        )
    return results.ledger_path("smoke")


def _lines(data: bytes) -> list[bytes]:
    return data.splitlines(keepends=True)


def _cut_last_row(data: bytes) -> bytes:
    """A crash or a full disk while copying: the file ends inside its last row."""
    last = _lines(data)[-1]
    return data[: len(data) - len(last) + last.index(b",0.92,") + 3]


def _cut_mid_file(data: bytes) -> bytes:
    """Line 3 lost its end (a bad merge or a truncated copy spliced with the rest)."""
    lines = _lines(data)
    lines[2] = b",".join(lines[2].split(b",")[:6]) + b"\n"
    return b"".join(lines)


def _extra_commas(data: bytes) -> bytes:
    lines = _lines(data)
    lines[2] = lines[2].replace(b",MNIST (verified),", b",MNIST, (verified),")
    return b"".join(lines)


def _open_quote(data: bytes) -> bytes:
    lines = _lines(data)
    lines[-1] = lines[-1].replace(b",MNIST (verified),", b',"MNIST (verified),')
    return b"".join(lines)


def _bad_utf8(data: bytes) -> bytes:
    return data.replace(b",b,", b",b\xff\xfe,")


def _no_header(data: bytes) -> bytes:
    return b"".join(_lines(data)[1:])


def _not_a_number(data: bytes) -> bytes:
    return data.replace(b",0.92,", b",0.9x2,")


def _no_model(data: bytes) -> bytes:
    return data.replace(b",b,", b",,")


DAMAGE = {
    "cut_in_last_row": (_cut_last_row, "line 4"),
    "cut_in_last_field": (lambda data: data[:-4], "line 4: the last line has no line end"),
    "cut_mid_file": (_cut_mid_file, "line 3: 6 fields"),
    "empty_file": (lambda data: b"", "empty"),
    "binary_garbage": (lambda data: b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), "not UTF-8 text"),
    "bad_utf8": (_bad_utf8, "not UTF-8 text"),
    "open_quote": (_open_quote, "quote"),
    "extra_commas": (_extra_commas, "line 3: 17 fields"),
    "no_header": (_no_header, "header"),
    "not_a_number": (_not_a_number, "test_accuracy"),
    "empty_model": (_no_model, "model is empty"),
}


@pytest.mark.parametrize("damage", DAMAGE)
def test_a_damaged_ledger_is_refused_and_never_rewritten(ledger, damage):
    make, what = DAMAGE[damage]
    damaged = make(ledger.read_bytes())
    ledger.write_bytes(damaged)
    with pytest.raises(results.LedgerError) as refused:
        results.load_ledger("smoke")
    assert str(ledger) in str(refused.value) and what in str(refused.value), str(refused.value)
    with pytest.raises(results.LedgerError) as refused:
        results.record(chapter=chapters.LINEAR_MODELS, model="d", profile="smoke", test_accuracy=0.5)
    message = str(refused.value)
    assert str(ledger) in message and f"{ledger}.damaged" in message and "nothing was written" in message
    assert ledger.read_bytes() == damaged, "record rewrote a ledger it could not read"
    assert isinstance(refused.value, ValueError)


def test_a_damaged_reference_file_is_refused(tmp_path):
    path = tmp_path / "reference.csv"
    good = results.REFERENCE.read_bytes()
    path.write_bytes(good[: len(good) - 30])
    with pytest.raises(results.LedgerError) as refused:
        results.load_reference(path)
    last = len(good.splitlines())
    assert str(path) in str(refused.value) and f"line {last}" in str(refused.value), str(refused.value)


def test_a_ledger_with_only_a_header_or_no_file_is_empty(tmp_path, monkeypatch):
    monkeypatch.setenv(training.ARTIFACTS_ENV, str(tmp_path))
    assert results.load_ledger("smoke").empty
    path = results.ledger_path("smoke")
    path.parent.mkdir(parents=True)
    path.write_text(",".join(results.COLUMNS) + "\n")
    ledger = results.load_ledger("smoke")
    assert ledger.empty and list(ledger.columns) == results.COLUMNS


def test_text_that_looks_missing_survives_a_round_trip(ledger):
    """A model named "NA" or data called "null" is text, not a missing value, and is written back as it was."""
    results.record(chapter=chapters.LINEAR_MODELS, model="NA", profile="smoke", data="null", test_accuracy=0.5)
    results.record(chapter=chapters.LINEAR_MODELS, model="e", profile="smoke", test_accuracy=0.6)
    row = results.load_ledger("smoke").set_index("model").loc["NA"]
    assert row["data"] == "null" and row["test_accuracy"] == 0.5


def test_ledger_text_is_escaped_when_the_book_shows_it(tmp_path, monkeypatch):
    monkeypatch.setenv(training.ARTIFACTS_ENV, str(tmp_path))
    model, data = "<img src=x onerror=alert(1)>", "<script>alert(1)</script>"
    results.record(
        chapter=chapters.LINEAR_MODELS, model=model, profile="smoke", data=data, test_accuracy=0.5, params=10
    )
    ledger = results.load_ledger("smoke")
    assert ledger.loc[0, "model"] == model and ledger.loc[0, "data"] == data
    html = results.styled(ledger.set_index("model")[["data", "params", "test_accuracy"]]).to_html()
    assert "<script" not in html and "<img" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert isinstance(ledger, pd.DataFrame)


# -- issue 33, 1: every table of the performance appendix goes through the escaping renderer --------------------------

APPENDIX = ROOT / "book" / "appendix_performance.ipynb"
IMG, SCRIPT, BOLD = "<img src=x onerror=alert(1)>", "<script>alert(2)</script>", "<b>3</b>"
#: The appendix's cells that build its tables from files, and the cells they need run first (by id).
TABLE_CELLS = {"c07": "the models' throughput", "bench1": "the benchmark", "35070d6c": "chapter timings", "a20": "best"}


def appendix_code() -> dict[str, str]:
    return {
        c["id"]: "".join(c["source"]) for c in json.loads(APPENDIX.read_text())["cells"] if c["cell_type"] == "code"
    }


def run_cell(code: str, namespace: dict) -> list:
    """Run a cell as the kernel does; return what it shows: its display() calls, then its last expression."""
    shown = namespace.setdefault("__shown__", [])
    shown.clear()
    tree = ast.parse(code)
    last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
    exec(compile(tree, APPENDIX.name, "exec"), namespace)  # noqa: S102 - the book's own code
    if last is not None:
        value = eval(compile(ast.Expression(last.value), APPENDIX.name, "eval"), namespace)  # noqa: S307
        if value is not None:
            shown.append(value)
    return list(shown)


def test_the_appendix_shows_every_table_through_the_escaping_renderer(tmp_path, monkeypatch):
    """Payloads in a ledger's model and data, a benchmark's model key, the timings' best model and data, a chapter
    key and a date: every table of the page shows them as text (they appeared raw in the built page)."""
    code = appendix_code()
    assert not [i for i, text in code.items() if re.search(r"\.style\b|\.to_html\(", text)], "every table: styled"
    monkeypatch.setenv(training.ARTIFACTS_ENV, str(tmp_path / "artifacts"))
    results.record(
        chapter=chapters.CNN, model=IMG, profile="smoke", data=SCRIPT, params=10, n_train=100,
        seconds_per_epoch=1.0, images_per_second=100.0, backend="tensorflow", test_accuracy=0.5,
    )  # fmt: skip
    recorded = json.loads((ROOT / "book" / "benchmark_results.json").read_text())
    recorded["models"][IMG] = dict(recorded["models"]["simple_cnn"])
    timings = json.loads((ROOT / "book" / "chapter_timings.json").read_text())
    row = timings["quick"]["chapters"][chapters.CNN]
    row.update(best_model=IMG, best_data=SCRIPT, best_test_accuracy=0.99)
    timings["smoke"]["chapters"][SCRIPT] = {**timings["smoke"]["chapters"][chapters.CNN], "measured": BOLD}
    (tmp_path / "benchmark_results.json").write_text(json.dumps(recorded))
    (tmp_path / "chapter_timings.json").write_text(json.dumps(timings))
    monkeypatch.chdir(tmp_path)
    namespace = {"pd": pd, "results": results, "bench": bench, "profile": types.SimpleNamespace(name="smoke")}
    namespace["display"] = lambda obj: namespace["__shown__"].append(obj)
    tables = {}
    for cell, what in TABLE_CELLS.items():
        tables[what] = [obj.to_html() for obj in run_cell(code[cell], namespace) if hasattr(obj, "to_html")]
        assert tables[what], f"cell {cell} ({what}) showed no table"
    for what, pages in tables.items():
        for page in pages:
            assert "<script" not in page and "<img" not in page and "<b>" not in page, f"{what}: markup shown raw"
    escaped = {html.escape(p, quote=False) for p in (IMG, SCRIPT, BOLD)}
    found = {e for pages in tables.values() for page in pages for e in escaped if e in page}
    assert found == escaped
    assert html.escape(IMG, quote=False) in tables["the benchmark"][0] and html.escape(SCRIPT, quote=False) in "".join(
        tables["best"]
    )


def test_the_renderer_escapes_index_names_levels_headers_cells_and_the_caption():
    index = pd.MultiIndex.from_tuples([(IMG, SCRIPT)], names=[BOLD, "model"])
    table = pd.DataFrame({IMG: [SCRIPT], "test_accuracy": [0.5], "n": [None]}, index=index)
    page = results.styled(table, formats={"n": "{:.1f}"}, caption=SCRIPT, whole_words=True).to_html()
    assert "<script" not in page and "<img" not in page and "<b>" not in page
    for payload in (IMG, SCRIPT, BOLD):
        assert html.escape(payload, quote=False) in page
    assert "0.5000" in page and "–" in page and "overflow-wrap: normal" in page
    with pytest.raises(KeyError, match="no_such_column"):
        results.styled(table, formats={"no_such_column": "{:.1f}"})
