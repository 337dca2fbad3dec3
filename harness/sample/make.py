"""Turn the bundled mini Wan2GP into a git history, and write a harness.yaml for it.

The same pieces make the synthetic upstreams of the integration tests: the template
files, plus small edits that reproduce upstream's breakage classes (a missing module at
import, a flat video, exit 0 without output, a requirements change, a renamed function or
a removed global that only a wrapper notices).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import shutil
from pathlib import Path

from harness.adapters.git_repo import write_commits
from harness.adapters.video import write_sample_clip

HERE = Path(__file__).resolve().parent
TEMPLATE = HERE / "upstream"
OVERLAYS = HERE / "overlays"
Files = dict[str, str | None]
_PROCESS_BLOCK = re.compile(r"# --- process-mode ---\n.*?# --- end process-mode ---\n", re.S)


def read_tree(root: Path) -> Files:
    """The text files under `root`, by path relative to it (caches left out)."""
    files: Files = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            files[path.relative_to(root).as_posix()] = path.read_text()
    return files


def template(*, process_mode: bool = True, api: bool = True) -> Files:
    """The mini upstream's files; older shapes drop `--process` or `shared/api.py`."""
    files = read_tree(TEMPLATE)
    if not process_mode:
        files["wgp.py"] = _PROCESS_BLOCK.sub("", files["wgp.py"] or "")
    if not api:
        files = {k: v for k, v in files.items() if not k.startswith("shared/")}
    return files


def knob(wgp: str, name: str, value: object) -> str:
    """Flip one of the mini engine's knobs (FLAT_OUTPUT, SKIP_WRITE)."""
    return re.sub(rf"^{name} = .*$", f"{name} = {value!r}", wgp, count=1, flags=re.M)


def broken_import(wgp: str, module: str = "smplfitter") -> str:
    """A new dependency not in requirements: the 'No module named ...' class of break."""
    return wgp.replace("import av\n", f"import av\nimport {module}\n", 1)


def rename_function(text: str, old: str, new: str) -> str:
    """Rename a function and every use of it in one file, with no alias left behind.

    Upstream renamed generate_video to generate_media this way (2026-06-12): its own callers
    (--process, shared/api.py) follow, so harness's adaptive runner still generates, while a
    wrapper that imports the old name breaks. Apply it to each file that uses the name.
    """
    return re.sub(rf"\b{re.escape(old)}\b", new, text)


def remove_global(text: str, name: str) -> str:
    """Drop a module global from one file: its definition, the stores into it, and its reads.

    Reads (subscripts: the mini engine's only kind) get the definition's value inlined, so
    the engine still works without the global; only a caller from outside that reaches for
    `wgp.<name>` (a wrapper) notices it is gone.
    """
    found = re.search(rf"^{re.escape(name)} = (.*)$", text, flags=re.M)
    text = re.sub(rf"^{re.escape(name)} = .*\n", "", text, flags=re.M)
    text = re.sub(rf"^[ \t]*[\w.]*\b{re.escape(name)}\[.*\] = .*\n", "", text, flags=re.M)
    return re.sub(rf"\b{re.escape(name)}\[", f"({found.group(1)})[", text) if found else text


def sample_history() -> list[tuple[str, Files]]:
    """Four commits, oldest first: in-process only, + --process, + shared/api.py, a break."""
    full = template()
    return [
        ("mini engine: in-process generate_video", template(process_mode=False, api=False)),
        ("added headless mode", {"wgp.py": template(api=False)["wgp.py"]}),
        ("added session api", {k: v for k, v in full.items() if k.startswith("shared/")}),
        ("stuff", {"wgp.py": broken_import(full["wgp.py"] or "")}),
    ]


CONFIG = """\
# harness.yaml for the bundled sample upstream (written by `harness sample`).
upstream:
  url: upstream
contract: {contract}
image:
  repo: harness/sample-{name}   # each sample folder its own: tags and gc are per repository
  recipe: cpu
build:
  timeout_s: 1800
{build_extra}run:
  gpu: auto
  timeout_s: 600
deploy:
  service: worker-cpu    # compose.yaml's CPU profile: this host has no NVIDIA runtime
  project: harness-sample-{name}
  health_timeout_s: 120
suite:
  name: sample-baseline
  overlays: overlays
  defaults:
    resolution: 64x48
    frames: 9
    steps: 2
    seed: 12345
    guidance: 3
    flow_shift: 2
    negative_prompt: blurry, low quality, distorted
  cases:
    - id: t2v_tiny
      model: t2v_tiny
      prompt: a red fox running through snow
    - id: vace_tiny
      model: vace_tiny
      prompt: a paper boat on a river
      guide_video: inputs/guide.mp4
      mask_video: inputs/mask.mp4
    - id: optimised_t2i
      model: optimised-t2i-tiny
      prompt: a lighthouse at dusk
      guidance: 1
"""


def host_build_extra(ca_bundle: Path | None, wheelhouse: Path | None) -> str:
    lines = []
    if ca_bundle is not None and ca_bundle.is_file():
        lines.append(f"  ca_bundle: {ca_bundle}")
    if wheelhouse is not None and wheelhouse.is_dir():
        lines.append(f"  wheelhouse: {wheelhouse}")
    return "".join(f"{line}\n" for line in lines)


def sample_name(folder: Path) -> str:
    """A name for the sample in `folder`: its folder name, made valid, and a hash of its path
    (write_sample adds a random part for each new sample: _kept_name).

    Two folders never share one, so their `:production` and `:last-good` never collide.
    """
    slug = re.sub(r"[^a-z0-9]+", "-", folder.name.lower()).strip("-")[:24].strip("-") or "sample"
    return f"{slug}-{hashlib.sha256(str(folder).encode()).hexdigest()[:8]}"


def write_sample(
    folder: Path,
    *,
    ca_bundle: Path | None = Path("/etc/ssl/certs/ca-certificates.crt"),
    wheelhouse: Path | None = Path("/opt/wheels"),
) -> Path:
    """Create folder/upstream (a git repo), inputs, overlays and harness.yaml; return its path."""
    folder = folder.resolve()
    upstream = folder / "upstream"
    if not (upstream / ".git").exists():
        write_commits(upstream, sample_history())
    write_sample_clip(folder / "inputs" / "guide.mp4", width=64, height=48, frames=9, seed=7)
    write_sample_clip(folder / "inputs" / "mask.mp4", "mask", width=64, height=48, frames=9, seed=7)
    shutil.copytree(OVERLAYS, folder / "overlays", dirs_exist_ok=True)
    config = folder / "harness.yaml"
    name = _kept_name(config) or f"{sample_name(folder)}-{secrets.token_hex(2)}"
    config.write_text(
        CONFIG.format(build_extra=host_build_extra(ca_bundle, wheelhouse), contract=HERE / "contract.yaml", name=name)
    )
    return config


def _kept_name(config: Path) -> str | None:
    """The name an existing sample config gave its images: re-running `harness sample` in the
    folder keeps them its own. A folder made again gets a new name: the images the state that
    lived there before left are another state's (ops/isolation.py), and would block it."""
    found = re.search(r"^  repo: harness/sample-([a-z0-9-]+)", config.read_text(), re.M) if config.is_file() else None
    return found.group(1) if found else None
