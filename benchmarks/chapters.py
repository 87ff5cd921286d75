"""`make bench`, second part: wall time and peak memory of every chapter, smoke and quick profiles.

Each notebook runs in its own process through nbclient (as the book build runs it), in order, with
a fresh artifacts folder per profile so that nothing comes from an earlier run's cache: a chapter's
time includes training the models an earlier chapter of the same run did not leave behind. The peak
memory is the kernel's maximum resident set size. Each chapter's best test accuracy in the run's
ledger is kept beside its time, and so is its lesson as the run measured it (the margin in errors and
McNemar's p-value, ``results.record_lesson``).
Before the first chapter and after every chapter, one separate process times the reference workload,
the simple CNN's training epoch on benchmarks/run.py's slice (bench.training_throughput); each row keeps
the mean of the rates measured before and after it as the host's speed while it ran
(``host_images_per_second``), so that rows measured on different days can be scaled to one speed
(bench.at_reference_speed).
Writes book/chapter_timings.json, which the performance appendix shows.

    .venv/bin/python benchmarks/chapters.py [smoke quick] [--only 04_mlp 08_resnet_qmnist]

``--only`` re-measures the named chapters alone (run in that order, in a fresh artifacts folder) and
replaces just their rows; each row says when it was measured.
"""

import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "book" / "chapter_timings.json"
CALIBRATION_DIGITS = 4_096  # benchmarks/run.py's slice for the simple CNN, so the rates compare with its table


def run_one(path: str) -> None:
    """In a child process: execute one notebook, print its wall time and its kernel's peak memory as JSON."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(
        nb, timeout=3600, kernel_name="python3", resources={"metadata": {"path": str(Path(path).parent)}}
    ).execute()
    seconds = time.perf_counter() - start
    kernel = resource.getrusage(resource.RUSAGE_CHILDREN)  # the kernel, after it exited
    print(
        json.dumps(
            {
                "seconds": round(seconds, 1),
                "cpu_seconds": round(kernel.ru_utime + kernel.ru_stime, 1),
                "peak_memory_mib": round(kernel.ru_maxrss / 1024),  # KiB on Linux
                "measured": time.strftime("%Y-%m-%d %H:%M"),
            }
        )
    )


def calibrate() -> None:
    """In a child process: for every line on stdin, the host's speed now (one JSON line on stdout).

    The speed is the simple CNN's training images per second on the slice benchmarks/run.py times it on.
    One process serves the whole run, so that Keras is imported once.
    """
    from mnistlib import bench, models

    for _ in sys.stdin:
        speed = bench.training_throughput(models.simple_cnn, CALIBRATION_DIGITS, repeat=3)
        print(json.dumps({"images_per_second": round(speed["train_images_per_second"], 1)}), flush=True)


class HostSpeed:
    """The :func:`calibrate` process (Keras stays out of this one); ``measure()`` returns the speed now."""

    def __init__(self, env: dict):
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--calibrate"], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )

    def measure(self) -> float:
        self.process.stdin.write("\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            sys.exit(
                f"the host-speed measurement (benchmarks/chapters.py --calibrate) exited with {self.process.wait()}"
            )
        return json.loads(line)["images_per_second"]

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait()


def best_models(ledger, rows: dict) -> None:
    """Add each chapter's best test accuracy in this run's ledger (a DataFrame), the model and its data, to ``rows``."""
    for chapter, group in ledger.dropna(subset=["test_accuracy"]).groupby("chapter"):
        if chapter in rows:
            best = group.loc[group["test_accuracy"].idxmax()]
            rows[chapter].update(
                best_model=best["model"],
                best_test_accuracy=round(float(best["test_accuracy"]), 4),
                best_data=best["data"],
            )
            print(f"        {chapter:28s} best {best['model']} {best['test_accuracy']:.4f}", flush=True)


def lessons(recorded: dict, rows: dict) -> None:
    """Add each chapter's lesson as its run measured it (``results.load_lessons``: the margin in errors and
    McNemar's p-value) to ``rows``."""
    for chapter, lesson in recorded.items():
        if chapter in rows:
            rows[chapter].update(
                lesson=lesson["claim"],
                lesson_margin=int(lesson["margin"]),
                lesson_n=int(lesson["n"]),
                lesson_p=float(f"{lesson['p_value']:.3g}"),
            )
            print(f"        {chapter:28s} lesson {lesson['margin']:+d} errors, p = {lesson['p_value']:.2g}", flush=True)


def main(profiles: list[str], only: list[str] | None = None) -> None:
    # Imported here, not at the top: the child that runs one notebook must not load Keras. The kernel it
    # starts is forked from it, and a forked process's peak memory counts the parent's pages it began with.
    from mnistlib import bench, results, training

    notebooks = sorted((ROOT / "chapters").glob("[0-9][0-9]_*.ipynb"))
    if only:
        unknown = sorted(set(only) - {nb.stem for nb in notebooks})
        if unknown:
            sys.exit(f"--only: no chapter named {', '.join(unknown)}")
        notebooks = [nb for nb in notebooks if nb.stem in only]
    out = json.loads(OUT.read_text()) if OUT.is_file() else {}
    out.update(
        {"date": time.strftime("%Y-%m-%d %H:%M"), "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores"}
    )
    for profile in profiles:
        rows = dict(out.get(profile, {}).get("chapters", {})) if only else {}
        with tempfile.TemporaryDirectory(prefix=f"bench-{profile}-") as artifacts:
            env = {**os.environ, "MNISTBOOK_PROFILE": profile, "MNISTBOOK_ARTIFACTS": artifacts}
            speed = HostSpeed(env)
            before = speed.measure()
            for nb in notebooks:
                done = subprocess.run(
                    [sys.executable, __file__, "--one", str(nb)], env=env, capture_output=True, text=True
                )
                if done.returncode != 0:  # the rows measured so far are kept: a rerun needs only the rest
                    if rows:
                        os.environ[training.ARTIFACTS_ENV] = artifacts
                        best_models(results.load_ledger(profile), rows)
                        lessons(results.load_lessons(profile), rows)
                        out[profile] = {**out.get(profile, {}), "chapters": rows}
                        OUT.write_text(json.dumps(out, indent=1) + "\n")
                    sys.exit(f"{nb.name} failed in the {profile} profile:\n{done.stderr[-3000:]}")
                rows[nb.stem] = json.loads(done.stdout.strip().splitlines()[-1])
                rows[nb.stem]["notebook"] = bench.notebook_fingerprint(nb)  # which version of the chapter was timed
                after = speed.measure()
                rows[nb.stem]["host_images_per_second"] = round((before + after) / 2, 1)
                before = after
                print(
                    f"{profile:6s} {nb.stem:28s} {rows[nb.stem]['seconds']:7.1f} s "
                    f"{rows[nb.stem]['peak_memory_mib']:6,} MiB; host {rows[nb.stem]['host_images_per_second']:,.0f} "
                    "simple-CNN images/s",
                    flush=True,
                )
            speed.close()
            os.environ[training.ARTIFACTS_ENV] = artifacts  # the ledger of this run, read as the book reads it
            best_models(results.load_ledger(profile), rows)
            lessons(results.load_lessons(profile), rows)
        out[profile] = {
            "chapters": rows,
            "total_seconds": round(sum(r["seconds"] for r in rows.values()), 1),
            "peak_memory_mib": max(r["peak_memory_mib"] for r in rows.values()),
        }
        print(f"{profile}: {out[profile]['total_seconds'] / 60:.1f} min in all", flush=True)
        OUT.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--one"]:
        run_one(sys.argv[2])
    elif sys.argv[1:2] == ["--calibrate"]:
        calibrate()
    else:
        args = sys.argv[1:]
        only = args[args.index("--only") + 1 :] if "--only" in args else None
        profiles = args[: args.index("--only")] if "--only" in args else args
        main(profiles or ["smoke", "quick"], only)
