"""The publishing workflow (.github/workflows/book.yml): the Makefile's own commands, the execution cache kept
between runs, the site deployed to GitHub Pages from main and uploaded for a pull request; and its linting."""

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from conftest import ROOT

WORKFLOW = ROOT / ".github" / "workflows" / "book.yml"


def _workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


def _triggers(workflow: dict) -> dict:
    # YAML 1.1 (PyYAML) reads the key `on` as the boolean True.
    return workflow.get("on", workflow.get(True))


def _steps(job: dict) -> list[dict]:
    return job.get("steps", [])


def _uses(step: dict, action: str) -> bool:
    return step.get("uses", "").split("@")[0] == action


def _paths(step: dict) -> list[str]:
    return [p.strip() for p in str(step.get("with", {}).get("path", "")).splitlines() if p.strip()]


def _run_lines(job: dict) -> list[str]:
    return [line.strip() for s in _steps(job) for line in str(s.get("run", "")).splitlines()]


def _build_job(workflow: dict) -> tuple[str, dict]:
    jobs = [(name, job) for name, job in workflow["jobs"].items() if "make book" in " ".join(_run_lines(job))]
    assert len(jobs) == 1, "one job builds the book"
    return jobs[0]


def test_it_runs_on_a_push_to_main_and_on_pull_requests():
    on = _triggers(_workflow())
    assert on["push"]["branches"] == ["main"]
    assert "pull_request" in on


def test_it_runs_the_makefiles_test_then_its_book_in_the_quick_profile():
    """`make test`, `make book`, then `make pdf`, as a reader runs them: no other command builds or tests the book,
    and the PDF is printed from the same profile's book."""
    _, job = _build_job(_workflow())
    lines = _run_lines(job)
    makes = [line for line in lines if line.startswith("make ")]
    assert len(makes) == 3 and makes[0] == "make test", makes
    assert makes[1].startswith("make book") and makes[2].startswith("make pdf"), makes
    for make in makes[1:]:
        args = make.split()[2:]
        assert [a for a in args if a.startswith("PROFILE=")] in ([], ["PROFILE=quick"]), make
        assert not [a for a in args if a.startswith("MNISTBOOK_PROFILE=")], make
    assert not any("jupyter-book" in line or "pytest" in line for line in lines), "use the Makefile's targets"


def test_the_data_is_a_folder_of_the_checkout_kept_between_runs():
    """`make data` (part of `make test` and `make book`) downloads into MNISTLIB_DATA; a relative folder works
    inside the container too (the Makefile makes it absolute), and the cache keeps the files between runs."""
    _, job = _build_job(_workflow())
    data = job["env"]["MNISTLIB_DATA"]
    assert not data.startswith("/") and "github.workspace" not in data, data
    assert any(_uses(s, "actions/cache") and _paths(s) == [data] for s in _steps(job))


def test_the_jupyter_execution_cache_is_kept_between_runs():
    """The cache holds _build/.jupyter_cache, and the key file beside it without which the Makefile clears it;
    its key follows what that key file records (mnistlib and the pins), and a new entry is saved every run."""
    makefile = (ROOT / "Makefile").read_text()
    assert "$(1)/.jupyter_cache" in makefile and "$(1)/.mnistlib-key" in makefile
    assert "cat pyproject.toml mnistlib/*.py" in makefile
    _, job = _build_job(_workflow())
    caches = [s for s in _steps(job) if _uses(s, "actions/cache") and "_build/.jupyter_cache" in _paths(s)]
    assert len(caches) == 1, "actions/cache keeps _build/.jupyter_cache"
    cache = caches[0]["with"]
    assert {"_build/.jupyter_cache", "_build/.mnistlib-key", "artifacts/quick"} <= set(_paths(caches[0]))
    assert "hashFiles('pyproject.toml', 'mnistlib/*.py')" in cache["key"]
    assert "quick" in cache["key"]
    assert "github.run_id" in cache["key"], "an exact key is saved once: the cache would never be updated"
    restore = cache["restore-keys"].strip()
    assert cache["key"].startswith(restore) and "run_id" not in restore
    position = [s.get("run") for s in _steps(job)]
    assert _steps(job).index(caches[0]) < position.index("make test"), "restored before anything is built"


def test_main_deploys_build_html_to_github_pages():
    workflow = _workflow()
    build_name, build = _build_job(workflow)
    uploads = [s for s in _steps(build) if _uses(s, "actions/upload-pages-artifact")]
    assert len(uploads) == 1 and _paths(uploads[0]) == ["_build/html"]
    assert "refs/heads/main" in uploads[0]["if"] and "pull_request" in uploads[0]["if"]
    deploys = [(n, j) for n, j in workflow["jobs"].items() if any(_uses(s, "actions/deploy-pages") for s in _steps(j))]
    assert len(deploys) == 1
    _, deploy = deploys[0]
    assert deploy["needs"] == build_name or deploy["needs"] == [build_name]
    assert "refs/heads/main" in deploy["if"] and "pull_request" in deploy["if"]
    assert deploy["permissions"] == {"pages": "write", "id-token": "write"}
    assert deploy["environment"]["name"] == "github-pages"
    assert deploy["concurrency"] == {"group": "pages", "cancel-in-progress": False}
    assert workflow["permissions"] == {"contents": "read"}, "only the deploy job may write"


def test_a_pull_request_uploads_the_site_as_an_artifact():
    _, build = _build_job(_workflow())
    uploads = [s for s in _steps(build) if _uses(s, "actions/upload-artifact")]
    assert len(uploads) == 1 and _paths(uploads[0]) == ["_build/html"]
    assert re.fullmatch(r"github\.event_name == 'pull_request'", uploads[0]["if"].strip())


def _lint_command() -> list[str]:
    """The jactionlint command of `make lint`, its options and operands, as words."""
    recipe = re.search(r"^lint:.*\n((?:\t.*\n)+)", (ROOT / "Makefile").read_text(), re.M).group(1)
    words = recipe.replace("\\\n", " ").split()
    start = words.index("$(VENV)/bin/jactionlint")
    end = next(i for i, w in enumerate(words[start:], start) if w.startswith(".github/"))
    return words[start : end + 1]


def test_make_lint_checks_the_workflows_with_a_pinned_jactionlint():
    command = _lint_command()
    assert command[-1] == ".github/workflows/*.yml"
    assert {"--profile", "correctness", "--no-online", "--strict-exit"} <= set(command)
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["test"]
    assert [r for r in extras if r.startswith("jactionlint==")]


def _jactionlint() -> str:
    here = Path(sys.executable).parent / "jactionlint"
    found = str(here) if here.exists() else shutil.which("jactionlint")
    if found is None:
        pytest.skip("jactionlint is not installed: `make venv` installs it with the test extras")
    return found


def test_jactionlint_passes_the_workflow_and_rejects_a_broken_one(tmp_path):
    """What `make lint` runs, on the workflow and on a copy with a mistyped key and a wrong step reference."""
    command = [_jactionlint(), *_lint_command()[1:-1]]
    done = subprocess.run([*command, str(WORKFLOW)], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    broken = WORKFLOW.read_text().replace("timeout-minutes:", "timeout-minute:", 1)
    broken = broken.replace("steps.deployment.outputs", "steps.deploymnt.outputs")
    (tmp_path / "book.yml").write_text(broken)
    done = subprocess.run([*command, str(tmp_path / "book.yml")], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "timeout-minute" in done.stdout and "deploymnt" in done.stdout
