"""Find and drive the headless entry point an upstream commit offers.

Newest first (see shared/UPSTREAM.md): `shared/api.py` (init/submit_task/result, since
2026-03-10), else `wgp.py --process settings.json` (since 2025-12-05), else the in-process
`generate_media` / `generate_video` call with cwd = upstream root and argv cleaned.
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
import re
import shutil
import subprocess
import sys
import traceback
from pathlib import Path
from typing import Any

_PROCESS_FLAG = re.compile(r"""["']--process["']""")
VIDEO_SUFFIXES = {".mp4", ".mkv", ".webm", ".avi", ".mov", ".gif", ".png", ".jpg"}


def describe(exc: BaseException) -> str:
    if isinstance(exc, SystemExit):
        # wgp.py calls exit() (status 0) on an mmgp version mismatch: the import never finished.
        return f"upstream called exit({exc.code!r}) while loading"
    last = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
    where = f" at {Path(last[0].filename).name}:{last[0].lineno}" if last else ""
    return f"{type(exc).__name__}: {exc}{where}"


def detect(root: Path) -> str:
    if (root / "shared" / "api.py").is_file():
        return "api"
    for name in ("wgp.py", "shared/cli_args.py"):
        source = root / name
        if source.is_file() and _PROCESS_FLAG.search(source.read_text(errors="replace")):
            return "process"
    return "inprocess"


def _accepted(fn: Any, **kwargs: Any) -> dict[str, Any]:
    params = inspect.signature(fn).parameters
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return kwargs
    return {k: v for k, v in kwargs.items() if k in params}


def _new_files(folder: Path, before: set[Path]) -> list[str]:
    found = [p for p in sorted(folder.rglob("*")) if p.is_file() and p not in before]
    return [str(p) for p in found if p.suffix.lower() in VIDEO_SUFFIXES]


def _enter(root: Path) -> None:
    os.chdir(root)
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    sys.argv = ["wgp.py"]  # wgp parses sys.argv at import


class ApiDriver:
    def __init__(self, root: Path, out: Path) -> None:
        self.root, self.out = root, out
        self.session: Any = None

    def start(self) -> None:
        _enter(self.root)
        api = importlib.import_module("shared.api")
        self.session = api.init(
            **_accepted(api.init, root=str(self.root), output_dir=str(self.out), cli_args=[], console_isatty=False)
        )

    def generate(self, settings: dict[str, Any], case_out: Path) -> tuple[list[str], str]:
        result = self.session.submit_task(settings).result()
        errors = [str(getattr(e, "message", e)) for e in getattr(result, "errors", [])]
        files = []
        for name in getattr(result, "generated_files", []):
            src = Path(name)
            if src.is_file():
                dest = case_out / src.name
                shutil.move(str(src), dest)  # one folder per case, whatever output_dir was
                files.append(str(dest))
        if not getattr(result, "success", False) and not errors:
            errors = ["shared.api reported success=False"]
        return files, "; ".join(errors)


class ProcessDriver:
    def __init__(self, root: Path, out: Path) -> None:
        self.root, self.out = root, out

    def start(self) -> None:
        os.chdir(self.root)

    def generate(self, settings: dict[str, Any], case_out: Path) -> tuple[list[str], str]:
        spec = case_out / "settings.json"
        spec.write_text(json.dumps([settings], indent=2))
        before = set(case_out.rglob("*"))
        argv = [sys.executable, "wgp.py", "--process", str(spec), "--output-dir", str(case_out)]
        code = subprocess.call(argv, cwd=self.root)
        return _new_files(case_out, before), "" if code == 0 else f"wgp.py --process exited {code}"


class InProcessDriver:
    def __init__(self, root: Path, out: Path) -> None:
        self.root, self.out = root, out
        self.wgp: Any = None

    def start(self) -> None:
        _enter(self.root)
        self.wgp = importlib.import_module("wgp")
        if not (hasattr(self.wgp, "generate_media") or hasattr(self.wgp, "generate_video")):
            raise AttributeError("wgp has neither generate_media nor generate_video")

    def generate(self, settings: dict[str, Any], case_out: Path) -> tuple[list[str], str]:
        wgp = self.wgp
        fn = getattr(wgp, "generate_media", None) or wgp.generate_video
        wgp.save_path = str(case_out)
        if isinstance(getattr(wgp, "server_config", None), dict):
            wgp.server_config["save_path"] = str(case_out)
        params: dict[str, Any] = {}
        if hasattr(wgp, "get_default_settings"):
            params.update(wgp.get_default_settings(settings["model_type"]) or {})
        params.update(settings)
        messages: list[tuple[str, Any]] = []

        def send_cmd(cmd: str, data: Any = None) -> None:
            messages.append((cmd, data))

        sig = inspect.signature(fn).parameters
        kwargs = {k: v for k, v in params.items() if k in sig and k not in ("task", "send_cmd")}
        if "state" in sig and "state" not in kwargs:
            kwargs["state"] = {"gen": {"file_list": [], "file_settings_list": []}, "loras": []}
        task = {"id": 1, "params": params, "plugin_data": {}}
        before = set(case_out.rglob("*"))
        fn(task, send_cmd, **kwargs)
        errors = [str(data) for cmd, data in messages if cmd == "error"]
        return _new_files(case_out, before), "; ".join(errors)


Driver = ApiDriver | ProcessDriver | InProcessDriver
DRIVERS: dict[str, type[Driver]] = {
    "api": ApiDriver,
    "process": ProcessDriver,
    "inprocess": InProcessDriver,
}
