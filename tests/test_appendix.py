"""The executable appendices. The performance and engineering appendices run whatever the ledger holds: before
any chapter, they say so instead of failing. The checkpoint appendix runs on its own, with nothing trained before
it."""

import nbformat
from conftest import ROOT
from nbclient import NotebookClient

from mnistlib import chapters

APPENDIX = ROOT / "book" / f"{chapters.APPENDIX_PERFORMANCE}.ipynb"
ENGINEERING = ROOT / "book" / f"{chapters.APPENDIX_ENGINEERING}.ipynb"
CHECKPOINT_APPENDIX = ROOT / "book" / f"{chapters.APPENDIX_CHECKPOINTS}.ipynb"


def _run_on_an_empty_ledger(path, tmp_path, monkeypatch):
    """The notebook executed in the smoke profile with an empty artifacts folder; its code cells."""
    monkeypatch.setenv("MNISTBOOK_PROFILE", "smoke")
    monkeypatch.setenv("MNISTBOOK_ARTIFACTS", str(tmp_path))
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    return [c for c in nb.cells if c.cell_type == "code"]


def _glued(code_cells, name):
    return [
        o
        for c in code_cells
        for o in c.get("outputs", [])
        if o.get("metadata", {}).get("scrapbook", {}).get("name") == name
    ]


def test_appendix_on_an_empty_ledger_says_so(tmp_path, monkeypatch):
    code = _run_on_an_empty_ledger(APPENDIX, tmp_path, monkeypatch)
    glued = _glued(code, "speed_sentence")
    assert len(glued) == 1
    assert "No chapter had trained a model in the smoke profile" in str(glued[0]["data"])
    assert not any(o.get("name") == "stderr" for c in code for o in c.get("outputs", []))


def test_engineering_appendix_on_an_empty_ledger_says_so(tmp_path, monkeypatch):
    code = _run_on_an_empty_ledger(ENGINEERING, tmp_path, monkeypatch)
    glued = _glued(code, "ledger_sentence")
    assert len(glued) == 1
    assert "No chapter had trained a model in the smoke profile" in str(glued[0]["data"])
    assert any(_glued(code, "aug_rate")), "the augmentation timings do not need the ledger"


def test_checkpoint_appendix_runs_on_its_own_and_cleans_up(tmp_path, monkeypatch):
    """No chapter before it, an empty artifacts folder: its hidden checks pass, nothing goes to stderr, and the
    runs it trains are deleted at the end."""
    code = _run_on_an_empty_ledger(CHECKPOINT_APPENDIX, tmp_path, monkeypatch)
    outputs = [o for c in code for o in c.get("outputs", [])]
    assert not any(o.get("name") == "stderr" for o in outputs)
    printed = "".join(o.get("text", "") for o in outputs)
    assert "CheckpointError:" in printed and "UserWarning:" in printed and "bit-identical:" in printed
    assert not (tmp_path / "smoke" / chapters.APPENDIX_CHECKPOINTS).exists()
