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


def test_importing_mnistlib_first_keeps_tensorflows_start_up_log_off_stderr():
    """A kernel that imports mnistlib, then Keras, and trains writes nothing to stderr (a page would show it)."""
    import os
    import subprocess
    import sys

    code = (
        "import mnistlib, keras, numpy as np\n"
        "m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])\n"
        "m.compile('adam', 'mse'); m.fit(np.ones((8, 4)), np.ones((8, 2)), verbose=0)\n"
        "print(keras.backend.backend())"
    )
    # mnistlib's defaults, not make's exports: a kernel or script started outside make (oneDNN's line, which no log
    # level silences, is printed only on processors with AVX-512 VNNI or BF16, where TensorFlow turns oneDNN on)
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "TF_ENABLE_ONEDNN_OPTS")}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stderr == "", f"stderr of a fresh process: {done.stderr[:1000]!r}"


def test_the_makefile_silences_tensorflow_for_every_process_it_starts():
    import re

    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^export TF_CPP_MIN_LOG_LEVEL \?= 3$", makefile, re.M), "make must export the log level"
    assert re.search(r"^export TF_ENABLE_ONEDNN_OPTS \?= 0$", makefile, re.M), "make must turn oneDNN off"
    assert "--env TF_CPP_MIN_LOG_LEVEL 3 --env TF_ENABLE_ONEDNN_OPTS 0" in makefile, "the kernel's environment"


def test_tensorflows_onednn_kernels_are_off_by_default_and_a_readers_choice_is_kept():
    """mnistlib turns oneDNN off unless the environment says otherwise (TensorFlow reads it when first imported)."""
    import os
    import subprocess
    import sys

    code = "import os, mnistlib; print(os.environ['TF_ENABLE_ONEDNN_OPTS'])"
    for given, expected in ((None, "0"), ("1", "1"), ("0", "0")):
        env = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
        if given is not None:
            env["TF_ENABLE_ONEDNN_OPTS"] = given
        done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-2000:]
        assert done.stdout.strip() == expected, f"TF_ENABLE_ONEDNN_OPTS={given!r} in the environment"


def test_the_library_version_is_the_packages():
    from mnistlib import version

    assert version.__version__ == _pyproject()["project"]["version"]
