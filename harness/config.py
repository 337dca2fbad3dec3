"""`harness.yaml` into frozen dataclasses; every error names the file, the key and what is allowed."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

from harness.errors import ConfigError, UsageError
from harness.fleetconfig import FleetConfig, fleet_from
from harness.limits import LIMIT_KEYS, Limits, limits_from
from harness.model import GPU_MODES, LEVELS, GpuMode, Level
from harness.naming import validate_repo
from harness.statedir import state_dir_problem
from harness.watchconfig import NotifyConfig, WatchConfig, notify_from, watch_from
from harness.yamlio import Section, load_yaml_mapping

PROJECT_ROOT = Path(__file__).resolve().parent.parent
_RESOLUTION = re.compile(r"([0-9]{1,5})x([0-9]{1,5})\Z")
GENERATED = "generated"  # guide/mask: harness writes a deterministic sample clip (496x496, 81 frames)
# `mask_video: generated` is this: a mask clip of the guide's size and length (black: keep, white: paint).
GENERATED_MASK = "generated-mask"
ClipKind = Literal["guide", "mask"]
_CASE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\Z")
_BUNDLED = re.compile(r"(?:images/)?(?P<name>[A-Za-z0-9][A-Za-z0-9_.-]*)/?\Z")  # `cpu-wan2gp`, `images/cpu-wan2gp`


@dataclass(frozen=True, kw_only=True)
class Case:
    id: str
    model: str
    prompt: str
    negative_prompt: str
    width: int
    height: int
    frames: int
    steps: int
    seed: int
    guidance: float
    flow_shift: float
    guide_video: str | None
    mask_video: str | None
    requires_gpu: bool


@dataclass(frozen=True, kw_only=True)
class Suite:
    name: str
    cases: tuple[Case, ...]
    overlays: Path | None  # folder of model definitions added to finetunes/
    min_free_gpu_gib: float = 0.0  # preflight: each GPU used needs this much free memory
    min_psnr: float | None = None  # drift against last-good below this fails the case; None: record only
    retries: int = 0  # a failed baseline is run again this often; failed-then-passed is FLAKY

    @property
    def requires_gpu(self) -> bool:
        return any(case.requires_gpu for case in self.cases)

    def digest(self) -> str:
        """Suite version: a record for another digest does not vouch for this suite."""
        h = hashlib.sha256(json.dumps([asdict(c) for c in self.cases], sort_keys=True).encode())
        for case in self.cases:
            for video in (case.guide_video, case.mask_video):
                if video and video not in (GENERATED, GENERATED_MASK):
                    h.update(Path(video).read_bytes())
        if self.overlays is not None:
            for path in sorted(self.overlays.rglob("*")):
                if path.is_file():
                    h.update(path.relative_to(self.overlays).as_posix().encode())
                    h.update(path.read_bytes())
        return h.hexdigest()[:16]


@dataclass(frozen=True, kw_only=True)
class DeployConfig:
    compose_file: Path
    service: str
    project: str
    health_timeout_s: int
    lock_wait_s: int


@dataclass(frozen=True, kw_only=True)
class WrapperConfig:
    """`wrapper:`: the user's wrapper around upstream, whose own test command judges a commit."""

    url: str  # git URL or local path (resolved like upstream.url)
    ref: str
    upstream_dir: str  # where upstream lives inside the wrapper's tree
    command: str  # the wrapper's test command; `{out}` is the output folder
    results: str  # the results file it writes, relative to {out} (a glob: the newest match)
    requirements: str | None  # a requirements file inside the wrapper's tree, installed on upstream's
    patches: Path | None  # a host folder with a patch series applied to upstream before the build
    mirror_dir: Path


@dataclass(frozen=True, kw_only=True)
class Config:
    source: Path
    upstream_url: str
    mirror_dir: Path
    fetch_timeout_s: float  # upstream.fetch_timeout_s: a fetch slower than this is infra (exit 125)
    repo: str
    recipe_dir: Path
    docker_dir: Path
    build_timeout_s: int
    build_retries: int  # env and deps builds that failed for network reasons are tried again this often
    build_backoff_s: float  # ... after this, then 3x longer each time
    cache_volume: str  # the engine volume of uv's download cache the deps builds share
    ca_bundle: Path | None
    wheelhouse: Path | None
    pip_options: tuple[str, ...]
    gpu: GpuMode
    gpus: tuple[int, ...]  # run.gpus: [ids] to use only these GPUs; empty: all
    run_timeout_s: int
    limits: Limits
    model_cache: Path | None
    driver_dir: Path
    state_dir: Path
    suite: Suite
    deploy: DeployConfig
    contract: Path | None  # None: no contract check before building
    promote_level: Level = "baseline"  # promote.requires_level: promotion needs a PASS this deep
    wrapper: WrapperConfig | None = None  # None: harness's own runner judges upstream
    contract_derived: bool = False  # `contract: derived`: derived from the wrapper's source (contract is None)
    watch: WatchConfig = field(default_factory=WatchConfig)  # `watch:` (its defaults when absent)
    notify: NotifyConfig = field(default_factory=NotifyConfig)  # `notify:` (no receivers when absent)
    report_out: Path | None = None  # report.out: the HTML report's folder (None: <state_dir>/report)
    report_commits: int = 300  # report.commits: how much of upstream's history the index shows
    fleet: FleetConfig | None = None  # `fleet:` a Swarm of GPU hosts with a registry (None: all local)

    @property
    def runs_dir(self) -> Path:
        """Where run folders live: on a fleet under the shared results path (each node's task
        writes its outputs there, harness judges them here), else in the state folder."""
        return self.fleet.results / "runs" if self.fleet else self.state_dir / "runs"

    @property
    def report_dir(self) -> Path:
        return self.report_out or self.state_dir / "report"


def _path(base: Path, value: str | None) -> Path | None:
    if value is None:
        return None
    return (base / Path(value).expanduser()).resolve()


def _existing(sec: Section, name: str, base: Path, *, kind: str) -> Path | None:
    path = _path(base, sec.string(name))
    if path is not None and not (path.is_dir() if kind == "folder" else path.is_file()):
        raise ConfigError(sec.source, sec.key(name), f"{path} is not an existing {kind}")
    return path


def _input_video(sec: Section, name: str, base: Path) -> Path | str | None:
    """A guide or mask video: an existing file, or `generated` (harness writes a sample clip;
    for the mask, a mask clip: a mask is never the guide)."""
    if sec.data.get(name) == GENERATED:
        return GENERATED_MASK if name == "mask_video" else GENERATED
    return _existing(sec, name, base, kind="file")


def _case(sec: Section, defaults: Section, base: Path) -> Case:
    allowed = {
        "id",
        "model",
        "prompt",
        "negative_prompt",
        "resolution",
        "frames",
        "steps",
        "seed",
        "guidance",
        "flow_shift",
        "guide_video",
        "mask_video",
        "requires_gpu",
    }
    sec.check_keys(allowed)
    defaults.check_keys(allowed - {"id", "model"})

    def written(name: str) -> Section:
        """Where the user wrote `name`: the case, else suite.defaults (so errors name that key)."""
        return sec if name in sec.data else defaults

    case_id = sec.string("id", required=True)
    if not _CASE_ID.match(case_id):
        raise ConfigError(sec.source, sec.key("id"), f"{case_id!r}: use 1-64 of A-Z a-z 0-9 _ . -")
    resolution = written("resolution").string("resolution", "832x480")
    match = _RESOLUTION.match(resolution)
    if not match:
        raise ConfigError(
            sec.source, written("resolution").key("resolution"), f"{resolution!r}: write WIDTHxHEIGHT, e.g. 768x576"
        )
    width, height = int(match[1]), int(match[2])
    if not (8 <= width <= 4096 and 8 <= height <= 4096):
        raise ConfigError(
            sec.source, written("resolution").key("resolution"), f"{resolution}: each side must be 8..4096"
        )
    guide, mask = (_input_video(written(name), name, base) for name in ("guide_video", "mask_video"))
    return Case(
        id=case_id,
        model=sec.string("model", required=True),
        prompt=written("prompt").string("prompt", "a red fox running through snow"),
        negative_prompt=written("negative_prompt").string("negative_prompt", "blurry, low quality, distorted"),
        width=width,
        height=height,
        frames=written("frames").integer("frames", 65, low=1, high=1024),
        steps=written("steps").integer("steps", 10, low=1, high=1000),
        seed=written("seed").integer("seed", 12345, low=0, high=2**32 - 1),
        guidance=written("guidance").number("guidance", 3.0, low=0.0, high=100.0),
        flow_shift=written("flow_shift").number("flow_shift", 2.0, low=0.0, high=100.0),
        guide_video=str(guide) if guide else None,
        mask_video=str(mask) if mask else None,
        requires_gpu=written("requires_gpu").boolean("requires_gpu", False),
    )


def _suite(sec: Section, base: Path) -> Suite:
    sec.check_keys({"name", "overlays", "defaults", "cases", "min_free_gpu_gib", "min_psnr", "retries"})
    raw_cases = sec.data.get("cases")
    if not isinstance(raw_cases, list) or not raw_cases:
        raise ConfigError(sec.source, sec.key("cases"), "must be a non-empty list of cases")
    defaults = sec.section("defaults")
    cases = tuple(
        _case(Section(sec.source, f"{sec.key('cases')}[{i}]", raw), defaults, base) for i, raw in enumerate(raw_cases)
    )
    ids = [c.id for c in cases]
    for case_id in ids:
        if ids.count(case_id) > 1:
            raise ConfigError(sec.source, sec.key("cases"), f"case id {case_id!r} appears twice")
    return Suite(
        name=sec.string("name", "baseline"),
        cases=cases,
        overlays=_existing(sec, "overlays", base, kind="folder"),
        min_free_gpu_gib=sec.number("min_free_gpu_gib", 0.0, low=0.0, high=4096.0),
        retries=sec.integer("retries", 0, low=0, high=10),
        min_psnr=sec.number("min_psnr", 0.0, low=0.0, high=200.0) if sec.data.get("min_psnr") is not None else None,
    )


POINT_AT_ONE = "run harness in the folder holding harness.yaml, or point at one with -c PATH or HARNESS_CONFIG=PATH"


def load_config(path: Path) -> Config:
    """Load and check `harness.yaml`. Relative paths are relative to the file's folder."""
    path = path.resolve()
    if path.is_dir():
        raise ConfigError(str(path), "(file)", f"is a folder, not a config file: {POINT_AT_ONE}")
    if not path.exists():
        raise ConfigError(str(path), "(file)", f"no such file: {POINT_AT_ONE}")
    return _config(path, load_yaml_mapping(path))


def default_config(folder: Path) -> Config:
    """The defaults, for diagnostics (`doctor`) where no harness.yaml exists: no upstream, one
    placeholder case that needs no GPU."""
    placeholder = {"upstream": {"url": "(no harness.yaml)"}, "suite": {"cases": [{"id": "none", "model": "none"}]}}
    return _config(folder.resolve() / "harness.yaml", placeholder)


def refuse_unchecked_level(cfg: Config, level: str | None) -> None:
    """`--level contract` with `contract: none` would record a PASS that checked nothing."""
    if level == "contract" and cfg.contract is None and not cfg.contract_derived:
        raise UsageError(
            f"--level contract with `contract: none` in {cfg.source} would record a PASS that checked nothing: "
            "set `contract: default` (or a contract file) there, or use --level smoke or baseline"
        )


def _state_dir(top: Section, base: Path) -> Path:
    """The state folder: a new or empty folder, or one holding a harness state (STATE_MARKERS);
    a ConfigError for a system folder, someone else's files, or a place harness cannot write."""
    state_dir = _path(base, top.string("state_dir", ".harness"))
    assert state_dir is not None
    problem = state_dir_problem(state_dir)
    if problem is None:
        return state_dir
    raise ConfigError(
        top.source, "state_dir", f"{problem}; give a new or empty folder harness may write (default .harness)"
    )


def _recipe_dir(img: Section, base: Path) -> Path:
    """A folder beside the config wins; else a bare name or `images/<name>` is a bundled recipe."""
    recipe = img.string("recipe", "cpu")
    beside = _path(base, recipe)
    assert beside is not None
    candidates = [beside]
    if bundled := _BUNDLED.match(recipe):
        candidates.append(PROJECT_ROOT / "images" / bundled["name"])
    for folder in candidates:
        if (folder / "recipe.yaml").is_file():
            return folder
    names = sorted(p.parent.name for p in (PROJECT_ROOT / "images").glob("*/recipe.yaml"))
    raise ConfigError(
        img.source,
        img.key("recipe"),
        f"{recipe!r}: no recipe.yaml in {beside}, and no bundled recipe of that name; "
        f"write a bundled name ({', '.join(names)}) or a folder holding recipe.yaml",
    )


TOP_KEYS = frozenset(
    {
        "upstream",
        "image",
        "build",
        "run",
        "state_dir",
        "suite",
        "deploy",
        "contract",
        "promote",
        "wrapper",
        "watch",
        "notify",
        "report",
        "fleet",
    }
)


_VOLUME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]+")


def _volume_name(sec: Section, name: str, default: str) -> str:
    value: str = sec.string(name, default)
    if not _VOLUME.fullmatch(value):
        raise ConfigError(sec.source, sec.key(name), f"{value!r} is not a volume name ([a-zA-Z0-9][a-zA-Z0-9_.-]+)")
    return value


def _config(path: Path, data: dict[str, object]) -> Config:
    top = Section(str(path), "", data)
    top.check_keys(TOP_KEYS)
    base = path.parent
    state_dir = _state_dir(top, base)
    up, img, build, run = (top.section(n) for n in ("upstream", "image", "build", "run"))
    up.check_keys({"url", "mirror_dir", "fetch_timeout_s"})
    img.check_keys({"repo", "recipe", "docker_dir"})
    build.check_keys(
        {"timeout_s", "ca_bundle", "wheelhouse", "pip_options", "retries", "retry_backoff_s", "cache_volume"}
    )
    run.check_keys({"gpu", "gpus", "timeout_s", "model_cache", "driver_dir", *LIMIT_KEYS})
    url = _git_url(up.string("url", required=True), base)
    repo = _repo(img, path)
    recipe_dir = _recipe_dir(img, base)
    wrapper = _wrapper(top, base, state_dir)
    report = top.section("report")
    report.check_keys({"out", "commits"})
    return Config(
        source=path,
        upstream_url=url,
        mirror_dir=_path(base, up.string("mirror_dir")) or state_dir / "upstream.git",
        fetch_timeout_s=up.number("fetch_timeout_s", 60.0, low=1.0, high=3600.0),
        repo=repo,
        recipe_dir=recipe_dir,
        docker_dir=_existing(img, "docker_dir", base, kind="folder") or PROJECT_ROOT / "docker",
        build_timeout_s=build.integer("timeout_s", 3600, low=10, high=86400),
        build_retries=build.integer("retries", 2, low=0, high=10),
        build_backoff_s=build.number("retry_backoff_s", 10.0, low=0.0, high=3600.0),
        ca_bundle=_existing(build, "ca_bundle", base, kind="file"),
        wheelhouse=_existing(build, "wheelhouse", base, kind="folder"),
        pip_options=build.strings("pip_options"),
        cache_volume=_volume_name(build, "cache_volume", "harness-uv-cache"),
        gpu=run.choice("gpu", "auto", GPU_MODES),
        gpus=_gpu_ids(run),
        run_timeout_s=run.integer("timeout_s", 1800, low=5, high=86400),
        limits=limits_from(run),
        model_cache=_existing(run, "model_cache", base, kind="folder"),
        driver_dir=_path(base, run.string("driver_dir", "/usr/local/nvidia")) or Path("/usr/local/nvidia"),
        state_dir=state_dir,
        suite=_suite(top.section("suite"), base),
        deploy=_deploy(top.section("deploy"), base),
        contract=_contract(top, base),
        promote_level=_promote_level(top.section("promote")),
        wrapper=wrapper,
        contract_derived=top.data.get("contract") == "derived",
        watch=watch_from(top) or WatchConfig(),
        notify=notify_from(top),
        report_out=_path(base, report.string("out")),
        report_commits=report.integer("commits", 300, low=1, high=100_000),
        fleet=fleet_from(top, base),
    )


def _git_url(url: str, base: Path) -> str:
    """A URL as written; a local path relative to the config's folder."""
    return url if "://" in url or url.startswith("git@") else str(_path(base, url))


_UPSTREAM_DIR = re.compile(r"[A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.-]+)*\Z")


def _wrapper(top: Section, base: Path, state_dir: Path) -> WrapperConfig | None:
    if top.data.get("wrapper") is None:
        if top.data.get("contract") == "derived":
            raise ConfigError(
                top.source, "contract", "derived needs a `wrapper:` section (its source is what is derived)"
            )
        return None
    sec = top.section("wrapper")
    sec.check_keys({"url", "ref", "upstream_dir", "command", "results", "requirements", "patches", "mirror_dir"})
    upstream_dir = sec.string("upstream_dir", "Wan2GP").strip("/")
    if not _UPSTREAM_DIR.match(upstream_dir) or any(p in (".", "..") for p in upstream_dir.split("/")):
        raise ConfigError(
            sec.source, sec.key("upstream_dir"), f"{upstream_dir!r}: a relative folder inside the wrapper, e.g. Wan2GP"
        )
    command = sec.string("command", required=True)
    if "{out}" not in command:
        raise ConfigError(
            sec.source, sec.key("command"), f"{command!r}: say where the wrapper writes its outputs with {{out}}"
        )
    results = sec.string("results", "results.json")
    if results.startswith("/") or ".." in results.split("/"):
        raise ConfigError(sec.source, sec.key("results"), f"{results!r}: a path (or glob) relative to {{out}}")
    return WrapperConfig(
        url=_git_url(sec.string("url", required=True), base),
        ref=sec.string("ref", "HEAD"),
        upstream_dir=upstream_dir,
        command=command,
        results=results,
        requirements=sec.string("requirements"),
        patches=_existing(sec, "patches", base, kind="folder"),
        mirror_dir=_path(base, sec.string("mirror_dir")) or state_dir / "wrapper.git",
    )


def _repo(img: Section, path: Path) -> str:
    repo: str = img.string("repo", "harness/wan2gp")
    try:
        validate_repo(repo)
    except Exception as exc:
        raise ConfigError(str(path), "image.repo", str(exc)) from exc
    return repo


def _promote_level(sec: Section) -> Level:
    sec.check_keys({"requires_level"})
    return sec.choice("requires_level", "baseline", LEVELS)


def _contract(top: Section, base: Path) -> Path | None:
    value = top.data.get("contract", "default")
    if value is None or value == "none" or value == "derived":
        return None
    if value == "default":
        return PROJECT_ROOT / "harness" / "contract.yaml"
    return _existing(top, "contract", base, kind="file")


def _gpu_ids(sec: Section) -> tuple[int, ...]:
    raw = sec.data.get("gpus", "all")
    if raw == "all":
        return ()
    if (
        not isinstance(raw, list)
        or not raw
        or not all(isinstance(i, int) and not isinstance(i, bool) and 0 <= i < 64 for i in raw)
    ):
        raise ConfigError(sec.source, sec.key("gpus"), f"{raw!r}: write all, or a list of GPU indexes like [0, 1]")
    return tuple(raw)


def _deploy(sec: Section, base: Path) -> DeployConfig:
    sec.check_keys({"compose_file", "service", "project", "health_timeout_s", "lock_wait_s"})
    return DeployConfig(
        compose_file=_existing(sec, "compose_file", base, kind="file") or PROJECT_ROOT / "compose.yaml",
        service=sec.string("service", "worker"),
        project=sec.string("project", "harness"),
        health_timeout_s=sec.integer("health_timeout_s", 600, low=1, high=86400),
        lock_wait_s=sec.integer("lock_wait_s", 30, low=0, high=86400),
    )
