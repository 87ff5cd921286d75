"""The performance appendix runs whatever the ledger holds: before any chapter, it says so instead of failing."""

import nbformat
from conftest import ROOT
from nbclient import NotebookClient

APPENDIX = ROOT / "book" / "appendix_performance.ipynb"


def test_appendix_on_an_empty_ledger_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("MNISTBOOK_PROFILE", "smoke")
    monkeypatch.setenv("MNISTBOOK_ARTIFACTS", str(tmp_path))
    nb = nbformat.read(APPENDIX, as_version=4)
    NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(APPENDIX.parent)}}
    ).execute()
    glued = [
        o
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if o.get("metadata", {}).get("scrapbook", {}).get("name") == "speed_sentence"
    ]
    assert len(glued) == 1
    assert "No chapter had trained a model in the smoke profile" in str(glued[0]["data"])
    assert not any(o.get("name") == "stderr" for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
