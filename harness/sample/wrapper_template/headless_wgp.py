"""Mini Headless-Wan2GP: an orchestrator over the Wan2GP tree in ./Wan2GP (the synthetic wrapper).

Shaped like the real wrapper's headless_wgp.py: it imports wgp after a chdir into its
Wan2GP folder with sys.argv replaced, takes names `from wgp import ...`, reaches into the
module for more, and sets module globals (server_config, save_path) to steer the outputs.
"""
import os
import sys
from pathlib import Path

WAN2GP = Path(__file__).resolve().parent / "Wan2GP"


class WanOrchestrator:
    def __init__(self, output_dir, wan_root=WAN2GP):
        self.wan_root = Path(wan_root).resolve()
        self.output_dir = Path(output_dir).resolve()
        self.output_dir.mkdir(parents=True, exist_ok=True)
        os.chdir(self.wan_root)  # wgp reads defaults/ and finetunes/ relative to the cwd
        if str(self.wan_root) not in sys.path:
            sys.path.insert(0, str(self.wan_root))
        sys.modules.pop("wgp", None)  # a stale wgp from another tree must not answer
        saved_argv, sys.argv = sys.argv, ["wgp.py"]  # wgp parses sys.argv at import
        try:
            from wgp import generate_video, get_default_settings
            import wgp
        finally:
            sys.argv = saved_argv
        self._generate_video = generate_video
        self._get_default_settings = get_default_settings
        self.wgp = wgp
        wgp.server_config["save_path"] = str(self.output_dir)
        wgp.save_path = str(self.output_dir)
        self.current_model = None

    def load_model(self, model_key):
        if self.wgp.get_model_def(model_key) is None:
            raise ValueError(f"unknown model {model_key!r}")
        self.current_model = model_key

    def generate(self, prompt, *, resolution, video_length, num_inference_steps, seed,
                 guidance_scale=5.0, flow_shift=3.0, negative_prompt=""):
        settings = dict(self._get_default_settings(self.current_model))
        outputs, errors = [], []

        def send_cmd(cmd, data=None):
            if cmd == "output":
                outputs.append(data)
            elif cmd == "error":
                errors.append(str(data))

        ok = self._generate_video(
            task={"id": 1, "params": settings},
            send_cmd=send_cmd,
            prompt=prompt,
            negative_prompt=negative_prompt,
            resolution=resolution,
            video_length=video_length,
            num_inference_steps=num_inference_steps,
            seed=seed,
            guidance_scale=guidance_scale,
            flow_shift=flow_shift,
            model_type=self.current_model,
            state=None,
        )
        if errors or not ok:
            raise RuntimeError("; ".join(errors) or "generate_video returned False")
        return outputs[-1] if outputs else None
