"""Session API of the mini Wan2GP, shaped like the real shared/api.py."""
import importlib
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class GenerationError:
    message: str
    task_index: int = 0
    stage: str = "generation"


@dataclass(frozen=True)
class GenerationResult:
    success: bool
    generated_files: list = field(default_factory=list)
    errors: list = field(default_factory=list)


class SessionJob:
    def __init__(self, result):
        self._result = result

    def result(self, timeout=None):
        return self._result


class WanGPSession:
    def __init__(self, module, output_dir):
        self.wgp, self.output_dir = module, output_dir

    def submit_task(self, settings, callbacks=None):
        errors, files = [], []

        def send_cmd(cmd, data=None):
            if cmd == "error":
                errors.append(GenerationError(message=str(data)))
            elif cmd == "output":
                files.append(str(data))

        params = dict(settings)
        ok = self.wgp.generate_video({"id": 1, "params": params}, send_cmd, **params)
        return SessionJob(GenerationResult(success=bool(ok) and not errors, generated_files=files, errors=errors))


def init(*, root=None, config_path=None, output_dir=None, callbacks=None, cli_args=(),
         console_output=True, console_isatty=True):
    root = Path(root or Path(__file__).resolve().parent.parent)
    sys.path.insert(0, str(root))
    old_argv, old_cwd = sys.argv, os.getcwd()
    sys.argv = ["wgp.py", *cli_args]
    os.chdir(root)
    try:
        module = importlib.import_module("wgp")
    finally:
        sys.argv = old_argv
        os.chdir(old_cwd)
    if output_dir:
        module.save_path = output_dir
        module.server_config["save_path"] = output_dir
    return WanGPSession(module, output_dir)
