"""The executable appendices. The performance appendix runs whatever the ledger holds: before any chapter, it says so
instead of failing. The checkpoint appendix runs on its own, with nothing trained before it."""

import nbformat
from conftest import ROOT
from nbclient import NotebookClient

from mnistlib import chapters

APPENDIX = ROOT / "book" / f"{chapters.APPENDIX_PERFORMANCE}.ipynb"
CHECKPOINT_APPENDIX = ROOT / "book" / f"{chapters.APPENDIX_CHECKPOINTS}.ipynb"


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


def test_checkpoint_appendix_runs_on_its_own_and_cleans_up(tmp_path, monkeypatch):
    """No chapter before it, an empty artifacts folder: its hidden checks pass, nothing goes to stderr, and the
    runs it trains are deleted at the end."""
    monkeypatch.setenv("MNISTBOOK_PROFILE", "smoke")
    monkeypatch.setenv("MNISTBOOK_ARTIFACTS", str(tmp_path))
    nb = nbformat.read(CHECKPOINT_APPENDIX, as_version=4)
    NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(CHECKPOINT_APPENDIX.parent)}}
    ).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not any(o.get("name") == "stderr" for o in outputs)
    printed = "".join(o.get("text", "") for o in outputs)
    assert "CheckpointError:" in printed and "UserWarning:" in printed and "bit-identical:" in printed
    assert not (tmp_path / "smoke" / chapters.APPENDIX_CHECKPOINTS).exists()
