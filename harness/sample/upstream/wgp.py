"""Mini Wan2GP: the sample upstream bundled with harness.

Same shapes as the real engine's headless surface (generate_video(task, send_cmd, ...),
get_model_def, get_default_settings, save_path, server_config, `--process settings.json`),
but its "generation" renders a short deterministic clip on the CPU (torch when installed,
numpy otherwise) and writes it with PyAV.
"""
import json
import os
import sys
from pathlib import Path

import av
import numpy as np

FLAT_OUTPUT = False  # a knob the sample history flips to make a "black video" regression
SKIP_WRITE = False  # a knob for "exit 0 but no video"
server_config = {"save_path": "outputs"}
save_path = server_config["save_path"]
ROOT = Path(__file__).resolve().parent


def get_model_def(model_type):
    for folder in ("finetunes", "defaults"):
        path = ROOT / folder / f"{model_type}.json"
        if path.is_file():
            return json.loads(path.read_text())["model"]
    return None


def get_default_settings(model_type):
    for folder in ("finetunes", "defaults"):
        path = ROOT / folder / f"{model_type}.json"
        if path.is_file():
            return {k: v for k, v in json.loads(path.read_text()).items() if k != "model"}
    return {}


def _render(prompt, width, height, frames, seed, steps):
    try:
        import torch
    except ImportError:
        torch = None
    phase = sum(prompt.encode()) % 97 / 97.0
    if torch is not None:
        gen = torch.Generator().manual_seed(seed)
        latent = torch.rand((3, height // 8, width // 8), generator=gen)
        for _ in range(steps):  # a few "denoising" steps: smooth the latent
            latent = 0.5 * latent + 0.5 * torch.roll(latent, 1, dims=2)
        base = torch.nn.functional.interpolate(latent[None], size=(height, width), mode="bilinear")[0]
        t = torch.arange(frames, dtype=torch.float32)[:, None, None, None]
        clip = (base[None] + 0.5 * torch.sin(t / 3.0 + phase * 6.28)).clamp(0, 1.5) / 1.5
        video = (clip.permute(0, 2, 3, 1) * 255).to(torch.uint8).numpy()
    else:
        rng = np.random.default_rng(seed)
        base = rng.random((height, width, 3), dtype=np.float32)
        t = np.arange(frames, dtype=np.float32)[:, None, None, None]
        video = ((base[None] * 0.6 + 0.4 * (np.sin(t / 3.0 + phase * 6.28) + 1) / 2) * 255).astype(np.uint8)
    if FLAT_OUTPUT:
        video[...] = 0
    return video


def _write(path, video, fps=16):
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.width, stream.height = video.shape[2], video.shape[1]
        stream.pix_fmt = "yuv420p"
        stream.options = {"qscale": "2"}
        for frame in video:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def generate_video(task, send_cmd, prompt, negative_prompt="", resolution="832x480", video_length=81,
                   seed=-1, num_inference_steps=30, guidance_scale=5.0, flow_shift=3.0,
                   model_type="t2v", state=None, video_guide=None, video_mask=None,
                   video_prompt_type="", **unused):
    model = get_model_def(model_type)
    if model is None:
        send_cmd("error", f"Unknown model type {model_type}")
        return False
    for kind, path in (("guide", video_guide), ("mask", video_mask)):
        if path and not os.path.isfile(path):
            send_cmd("error", f"{kind} video {path} not found")
            return False
    width, height = (int(v) for v in resolution.split("x"))
    video = _render(prompt, width, height, video_length, seed, num_inference_steps)
    out_dir = Path(save_path)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{model_type}_seed{seed}.mp4"
    if not SKIP_WRITE:
        _write(path, video)
        send_cmd("output", str(path))
    return True


# --- process-mode ---
def process(settings_file, output_dir=None):
    """Headless mode: run every task of a settings JSON (a dict or a list of dicts)."""
    global save_path
    if output_dir:
        save_path = output_dir
        server_config["save_path"] = output_dir
    tasks = json.loads(Path(settings_file).read_text())
    tasks = tasks if isinstance(tasks, list) else [tasks]
    failures = 0
    for index, params in enumerate(tasks):
        errors = []

        def send_cmd(cmd, data=None):
            if cmd == "error":
                errors.append(data)
                print(f"task {index}: error: {data}", flush=True)

        ok = generate_video({"id": index, "params": params}, send_cmd, **params)
        failures += 0 if ok and not errors else 1
    return 1 if failures else 0


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--process")
    parser.add_argument("--output-dir")
    args = parser.parse_args()
    if args.process:
        sys.exit(process(args.process, args.output_dir))
    print("the mini engine has no web UI; use --process settings.json")
# --- end process-mode ---
