"""The wrapper's baseline: one generation per model, results in OUT/results.json.

Like the old test_model_comparison.py: every case is caught into status failed + error,
and the script exits 0 either way; whoever reads results.json judges.
"""
import argparse
import datetime
import json
import time
import traceback
from pathlib import Path

MODELS = ["t2v_tiny"]
PROMPT = "a red fox running through snow"


def _args():
    parser = argparse.ArgumentParser()
    parser.add_argument("--output-dir", required=True)
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--resolution", default="64x48")
    parser.add_argument("--frames", type=int, default=5)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--seed", type=int, default=12345)
    return parser.parse_args()


def _case(orchestrator, model, args):
    started = time.monotonic()
    try:
        orchestrator.load_model(model)
        output = orchestrator.generate(
            PROMPT,
            resolution=args.resolution,
            video_length=args.frames,
            num_inference_steps=args.steps,
            seed=args.seed,
            guidance_scale=3.0,
            flow_shift=2.0,
        )
    except Exception as exc:
        traceback.print_exc()
        return {"model": model, "status": "failed", "error": f"{type(exc).__name__}: {exc}"}
    if output is None:
        return {"model": model, "status": "no_output"}
    return {"model": model, "model_name": model, "output_path": str(Path(output).resolve()),
            "generation_time": round(time.monotonic() - started, 3), "status": "success"}


def main():
    args = _args()
    out = Path(args.output_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    models = [m for m in args.models.split(",") if m]
    try:
        from headless_wgp import WanOrchestrator

        orchestrator = WanOrchestrator(output_dir=out)
    except Exception as exc:  # the wrapper cannot start: every case says why
        traceback.print_exc()
        error = f"{type(exc).__name__}: {exc}"
        results = [{"model": m, "status": "failed", "error": error} for m in models]
    else:
        results = [_case(orchestrator, m, args) for m in models]
    doc = {"test_run_id": datetime.datetime.now().strftime("%Y%m%d_%H%M%S"),
           "timestamp": datetime.datetime.now().isoformat(), "results": results}
    (out / "results.json").write_text(json.dumps(doc, indent=2))
    for row in results:
        print(f"{row['model']}: {row['status']} {row.get('error', '')}".rstrip(), flush=True)


if __name__ == "__main__":
    main()
