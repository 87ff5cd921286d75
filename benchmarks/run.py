"""`make bench`: the book's speed figures in one run, as JSON and a markdown table.

Writes book/benchmark_results.json and book/benchmark_results.md (the performance appendix shows
them): IDX reading speed next to idx2numpy and a pure-Python reader; training and inference speed
of every model builder on a fixed slice of MNIST (compilation excluded), with and without
augmentation, in wall time and in processor time; how the simple CNN's epoch time grows with the
training-set size; peak memory.

    .venv/bin/python benchmarks/run.py [--models resnet ...]

``--models`` re-measures only the named builders (after one of them changed) and keeps every other
figure of the last full run; each model's row says when it was measured.
"""

import functools
import json
import os
import platform
import resource
import sys
import time
from pathlib import Path

import keras

from mnistlib import bench, models, notebook

ROOT = Path(__file__).resolve().parents[1]
# Digits per timed epoch: the same slice for every model, smaller for the two that are too slow on a CPU.
SLICE = {"resnet": 512, "standard_cnn": 128}


def model_cases() -> dict:
    cases = {name: functools.partial(builder) for name, builder in models.BUILDERS.items()}
    cases["bn_cnn + augmentation"] = functools.partial(models.bn_cnn, augment=models.AUGMENTATION)
    cases["simple_cnn + augmentation"] = functools.partial(models.simple_cnn, augment=models.AUGMENTATION)
    return cases


def measure(name: str, build) -> dict:
    row = bench.training_throughput(build, SLICE.get(name.split(" ")[0], 4_096), repeat=3)
    row["measured"] = time.strftime("%Y-%m-%d %H:%M")
    print(f"{name:28s} {row['train_images_per_second']:9,.0f} img/s", flush=True)
    return row


def write_table(out: dict) -> None:
    lines = [
        f"Measured {out['date']} on {out['machine']} ({out['backend']} backend).",
        "",
        "| model | parameters | train img/s | inference img/s | s/epoch (48k) | train CPU s per 1000 img |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, r in out["models"].items():
        lines.append(
            f"| {name} | {r['params']:,} | {r['train_images_per_second']:,.0f} | "
            f"{r['inference_images_per_second']:,.0f} | {r['seconds_per_epoch_48k']:,.1f} | "
            f"{r['train_cpu_seconds_per_1000']:,.2f} |"
        )
    later = sorted({r["measured"] for r in out["models"].values() if r.get("measured", out["date"]) != out["date"]})
    if later:
        lines += ["", f"Some rows were re-measured alone after their builder changed, on {', '.join(later)}."]
    (ROOT / "book" / "benchmark_results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def remeasure(names: list[str]) -> None:
    """Re-measure the named models only, keeping the rest of the last full run."""
    path = ROOT / "book" / "benchmark_results.json"
    out = json.loads(path.read_text())
    cases = model_cases()
    unknown = [n for n in names if n not in cases]
    if unknown:
        sys.exit(f"--models: no model case named {', '.join(unknown)}; known: {', '.join(cases)}")
    for name in names:
        out["models"][name] = measure(name, cases[name])
    path.write_text(json.dumps(out, indent=1))
    write_table(out)


def main() -> None:
    if "--models" in sys.argv:
        return remeasure(sys.argv[sys.argv.index("--models") + 1 :])
    started = time.time()
    out = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores",
        "versions": notebook.versions(),
        "backend": keras.backend.backend(),
    }
    out["idx_read_mb_per_s"] = bench.idx_read_speeds(repeat=3)
    out["models"] = {name: measure(name, build) for name, build in model_cases().items()}
    # This machine is a shared virtual machine whose host at times grants about one of its two cores: an
    # epoch then takes up to twice as long. The models above were timed one after the other, so their ratio
    # would compare whichever phase each fell in; the overhead is measured with alternating epochs instead.
    overhead = {
        b: bench.augmentation_overhead(models.BUILDERS[b], models.AUGMENTATION) for b in ("bn_cnn", "simple_cnn")
    }
    out["augmentation_overhead"] = {b: o["wall"] for b, o in overhead.items()}
    out["augmentation_overhead_cpu"] = {b: o["cpu"] for b, o in overhead.items()}
    out["scaling_simple_cnn"] = bench.scaling(models.simple_cnn)
    out["peak_memory_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out["seconds"] = time.time() - started
    (ROOT / "book" / "benchmark_results.json").write_text(json.dumps(out, indent=1))
    write_table(out)
    print(
        json.dumps(
            {
                k: out[k]
                for k in (
                    "augmentation_overhead",
                    "augmentation_overhead_cpu",
                    "scaling_simple_cnn",
                    "peak_memory_mib",
                    "seconds",
                )
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    sys.exit(main())
