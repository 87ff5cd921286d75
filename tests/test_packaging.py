import tomllib

import yaml

from conftest import ROOT


def _pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_environment_yml_installs_exactly_what_pyproject_declares():
    project = _pyproject()["project"]
    declared = list(project["dependencies"]) + [r for extra in project["optional-dependencies"].values() for r in extra]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_sections = [d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d]
    assert len(pip_sections) == 1
    pip = pip_sections[0]
    assert "-e ." in pip, "environment.yml must install mnistlib itself"
    assert sorted(r for r in pip if r != "-e .") == sorted(declared)


def test_every_dependency_is_pinned_exactly():
    project = _pyproject()["project"]
    for req in list(project["dependencies"]) + [r for e in project["optional-dependencies"].values() for r in e]:
        assert "==" in req.split(";")[0], f"{req} is not pinned with =="


def test_jupyter_book_is_1x():
    deps = _pyproject()["project"]["dependencies"]
    jb = [d for d in deps if d.startswith("jupyter-book")]
    assert jb and jb[0].split("==")[1].startswith("1.")
