"""Faults in the results ledger: a damaged ledger or reference file is refused on read and never rewritten.

Issue "Nothing lost, nothing silent": a ledger cut by a crash, a bad copy or a hand edit used to load with
empty or shifted values (or raise a raw pandas/Unicode error naming no file), and the next ``record`` wrote the
damage back. Now every read is validated and a damaged file is left exactly as it is.
"""

import pandas as pd
import pytest

from mnistlib import chapters, results, training


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
