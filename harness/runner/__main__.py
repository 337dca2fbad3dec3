"""Run the suite inside the image: `python -m harness_runner --spec SPEC --out DIR`.

Writes DIR/results.json in the old baseline script's schema after every case, so a killed
run still leaves what it finished. The harness judges the videos itself on the host;
the statuses written here are the runner's view only.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import os
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import Any

from . import entry, missing, smoke, wrapper


def _warm_gpu() -> None:
    """Create the CUDA context (and load cuBLAS/cuDNN) before the first case starts.

    The host measures each case's GPU memory from its start marker to its end marker; the
    context and library modules (about a GiB on an H200) would otherwise look like a leak
    of whichever case touched the GPU first.
    """
    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_available():
        return
    x = torch.randn(64, 64, device="cuda")
    (x @ x).sum().item()
    image = torch.randn(1, 4, 16, 16, device="cuda")
    torch.nn.functional.conv2d(image, torch.randn(4, 4, 3, 3, device="cuda"), padding=1).sum().item()
    if hasattr(torch.backends, "cudnn"):
        torch.nn.functional.conv2d(image.half(), torch.randn(4, 4, 3, 3, device="cuda").half(), padding=1).sum().item()
    del x, image
    torch.cuda.synchronize()
    torch.cuda.empty_cache()
    print("[harness-runner] CUDA context ready", flush=True)


def _gpu_used() -> str:
    """Device memory in use, measured in-process at a case marker (host samples race short cases)."""
    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_available() or not torch.cuda.is_initialized():
        return ""
    free, total = torch.cuda.mem_get_info()
    return f" [gpu_used_mib={(total - free) / 2**20:.1f}]"


def _free_gpu_memory() -> None:
    """Give back cached GPU memory after a case, so the host can tell a leak from a cache."""
    gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


def _write(out: Path, doc: dict[str, object]) -> None:
    tmp = out / "results.json.tmp"
    tmp.write_text(json.dumps(doc, indent=2))
    os.replace(tmp, out / "results.json")


def _name_missing_weights(row: dict[str, object], root: Path) -> None:
    """A failed case says which files its model's definition names and ckpts/ lacks: the host
    calls the failure "weights missing" (infra) on this list only, never on the error's text."""
    try:
        names = missing.missing_weights(root, str(row["model"]), root / "ckpts")
    except (OSError, RecursionError) as exc:  # a cache it cannot list: say so, claim nothing
        print(f"[harness-runner] could not check the weights: {exc}", flush=True)
        return
    if names:
        row["missing_weights"] = names


READY_FILE = "/tmp/harness-worker-ready"


def writable_copy(root: Path, scratch: Path, upstream_dir: str = "") -> Path:
    """Copy the upstream tree (wrapper mode: the wrapper's, upstream's inside at `upstream_dir`)
    to a writable scratch folder (the image's root filesystem is read-only; importing wgp writes
    wgp_config.json, settings/ and loras/ next to it). The model cache stays where it is
    mounted, linked into the copy."""
    target = scratch / root.name
    shutil.copytree(root, target, symlinks=True, ignore=shutil.ignore_patterns("ckpts"), dirs_exist_ok=True)
    ckpts = Path(upstream_dir, "ckpts")
    if (root / ckpts).exists() and not (target / ckpts).exists():
        (target / ckpts).symlink_to(root / ckpts)
    return target


def serve(root: Path) -> int:
    """Stand-in production worker: load the upstream engine, report ready, then idle.

    compose.yaml's health check looks for READY_FILE, so an image whose engine does not
    load never turns healthy and `harness promote --deploy` rolls it back.
    """
    kind = entry.detect(root)
    try:
        entry.DRIVERS[kind](root, Path("/tmp")).start()
    except BaseException as exc:  # noqa: BLE001 - upstream may raise anything, even SystemExit
        print(f"[harness-worker] upstream failed to load: {entry.describe(exc)}", flush=True)
        return 1
    Path(READY_FILE).write_text(kind)
    print(f"[harness-worker] ready (entry point {kind})", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    while True:
        signal.pause()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="harness_runner")
    parser.add_argument("--spec", type=Path)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--root", default=os.getcwd(), type=Path)
    parser.add_argument("--serve", action="store_true", help="run as the production stand-in worker")
    parser.add_argument("--smoke", action="store_true", help="import upstream on the CPU, resolve the models")
    parser.add_argument("--writable-copy", type=Path, help="run from a copy of the upstream tree made here")
    parser.add_argument("--wrapper-command", help="wrapper mode: run this test command in --root ({out}: --out)")
    parser.add_argument("--wrapper-results", default="results.json", help="the results file it writes under --out")
    parser.add_argument("--wrapper-upstream-dir", default="", help="where upstream lives in the wrapper's tree")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.writable_copy:
        args.root = writable_copy(args.root.resolve(), args.writable_copy, args.wrapper_upstream_dir)
    if args.wrapper_command and args.spec and args.out:
        spec = json.loads(args.spec.read_text())
        return wrapper.run_wrapper(
            args.root, args.out, spec, command=args.wrapper_command, results=args.wrapper_results, spec_path=args.spec
        )
    if args.serve:
        return serve(args.root.resolve())
    if args.spec is None or args.out is None:
        parser.error("--spec and --out are required (or --serve)")
    if args.smoke:
        return smoke.smoke(args.root.resolve(), args.out, json.loads(args.spec.read_text()))
    return run_suite(args.root.resolve(), args.out, json.loads(args.spec.read_text()))


def run_suite(root: Path, out: Path, spec: dict[str, Any]) -> int:
    """Every case of `spec` through the upstream's entry point; results.json after each."""
    out.mkdir(parents=True, exist_ok=True)
    kind = entry.detect(root)
    results: list[dict[str, object]] = []
    doc: dict[str, object] = {
        "test_run_id": spec.get("run_id", ""),
        "timestamp": datetime.datetime.now(datetime.UTC).isoformat(),
        "description": spec.get("description", ""),
        "entry_point": kind,
        "import_finished": False,
        "results": results,
    }
    _write(out, doc)
    print(f"[harness-runner] upstream entry point: {kind}", flush=True)
    driver = entry.DRIVERS[kind](root, out)
    _start(driver, doc)
    _write(out, doc)
    for case in spec["cases"]:
        row: dict[str, object] = {"case_id": case["id"], "model": case["settings"]["model_type"]}
        results.append(row)
        case_out = out / case["id"]
        case_out.mkdir(parents=True, exist_ok=True)
        if not doc["import_finished"]:
            row.update(_NOT_RUN, error=f"upstream did not load: {doc.get('import_error')}")
            continue
        _run_case(driver, case, case_out, row, root)
        _write(out, doc)
    _write(out, doc)
    return 0 if all(r.get("status") == "success" for r in results) else 1


# A case the upstream never got to run (it did not load): failed, with nothing to show.
_NOT_RUN: dict[str, object] = {"status": "failed", "output_path": None, "generation_time": 0.0, "file_size_mb": 0.0}


def _start(driver: entry.Driver, doc: dict[str, object]) -> None:
    """Load the upstream; a failure is recorded in `doc`, and every case then fails with it."""
    try:
        driver.start()
        doc["import_finished"] = True
        _warm_gpu()
    except BaseException as exc:  # noqa: BLE001 - upstream may raise anything, even SystemExit
        doc["import_error"] = entry.describe(exc)
        print(f"[harness-runner] upstream failed to load: {doc['import_error']}", flush=True)


def _run_case(driver: entry.Driver, case: dict[str, Any], case_out: Path, row: dict[str, object], root: Path) -> None:
    print(f"[harness-runner] case {case['id']} ({row['model']}){_gpu_used()}", flush=True)
    started = time.monotonic()
    try:
        files, error = driver.generate(case["settings"], case_out)
    except BaseException as exc:  # noqa: BLE001 - upstream may raise anything, even SystemExit
        files, error = [], entry.describe(exc)
    row["generation_time"] = round(time.monotonic() - started, 3)
    _free_gpu_memory()
    row.update(_outcome(files, error))
    if row["status"] != "success":
        _name_missing_weights(row, root)
    print(f"[harness-runner] case {case['id']}: {row['status']} {row.get('error') or ''}{_gpu_used()}", flush=True)


def _outcome(files: list[str], error: str) -> dict[str, object]:
    """The row's status and output: the last video written, or why there is none."""
    videos = [f for f in files if Path(f).is_file()]
    if not videos:
        return {
            "status": "failed" if error else "no_output",
            "output_path": None,
            "file_size_mb": 0.0,
            "error": error or "no output file",
        }
    video = Path(videos[-1])
    return {
        "status": "success" if not error else "failed",
        "output_path": str(video),
        "file_size_mb": round(video.stat().st_size / 1e6, 3),
        "error": error or None,
    }


if __name__ == "__main__":
    sys.exit(main())
