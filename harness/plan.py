"""The plan of a build-and-test: what loading resolves before any engine or git call.

Config, recipe, suite and contract are read here once, with every digest they need (suite,
contract, wheelhouse), into one immutable value. Execution (ops/) takes the narrow part it
needs: the build its `BuildPlan`, the run its `SuitePlan`, the check its `ContractPlan`. A
bisect builds one plan and every probe reuses it; `--dry-run` prints it (`to_dict`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import shutil
from dataclasses import dataclass
from pathlib import Path

from harness.config import Config, Suite, WrapperConfig
from harness.context import HostFiles
from harness.contract import DEFAULT_CONTRACT, Contract, load_contract
from harness.derive import DerivedContract
from harness.errors import UsageError
from harness.limits import MEMORY_SHARE, Limits
from harness.model import LEVELS, GpuMode, Level
from harness.patches import PatchSeries, series_digest, series_for
from harness.recipe import Recipe, load_recipe

RUNNER_DIR = Path(__file__).resolve().parent / "runner"
STAGES = ("env", "deps", "commit")
# What each stage is built by: deps is a script run in a container (its download cache is a volume).
STAGE_FILES = {"env": "env.Dockerfile", "deps": "deps.sh", "commit": "commit.Dockerfile"}


@dataclass(frozen=True, kw_only=True)
class ContractPlan:
    """The contract a run is checked by, loaded, with what the check compares it to."""

    contract: Contract | None  # None: no contract configured, nothing is checked
    source: str  # its file ("" for none): what the plan shows
    digest: str  # contract_hash of the records ("none" when none is checked)
    overlay_ids: frozenset[str]  # models the suite's overlays add (they need not exist upstream)
    suite_models: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class GpuNeeds:
    """What the preflight and the run's GPU plan ask of the host."""

    mode: GpuMode
    gpus: tuple[int, ...]  # run.gpus: only these (empty: all)
    requires_gpu: bool
    min_free_gib: float
    # The runs' GPUs are a fleet's nodes', not this host's: no local GPU checks (Swarm places a
    # run on a node with a free GPU; a suite that needs one still fails loudly when none has).
    remote: bool = False


@dataclass(frozen=True, kw_only=True)
class WrapperPlan:
    """Wrapper mode: the user's wrapper at `ref` around upstream, judged by its own test command."""

    url: str
    ref: str  # as given (a bisect over the wrapper's side replaces it per probe)
    upstream_dir: str  # where upstream goes inside the wrapper's tree
    command: str  # `{out}`: the output folder
    results: str  # relative to {out}; a glob picks the newest match
    requirements: str | None  # inside the wrapper's tree, installed after upstream's
    series: PatchSeries | None = None  # wrapper.patches, read when the plan is loaded (its folder included)

    @property
    def series_digest(self) -> str:
        return series_digest(self.series) if self.series else ""

    def lines(self) -> tuple[str, ...]:
        return (
            f"  wrapper   {self.url} at {self.ref}, upstream at {self.upstream_dir}/, "
            f"requirements {self.requirements or 'none'}, patches "
            + (
                f"{self.series.folder} ({len(self.series.patches)}, {self.series_digest[:16]})"
                if self.series
                else "none"
            ),
            f"  command   {self.command} (results {{out}}/{self.results})",
        )


@dataclass(frozen=True, kw_only=True)
class BuildPlan:
    """The three builds of a commit image, less what only the engine and the commit tell."""

    repo: str
    recipe: Recipe
    host: HostFiles
    overlays: tuple[tuple[str, bytes], ...]  # (path under finetunes/, bytes)
    timeout_s: float
    retries: int  # env and deps builds that failed for network reasons are tried again this often
    backoff_s: float
    state_dir: Path
    wrapper: WrapperPlan | None = None
    cache_volume: str = "harness-uv-cache"  # uv's download cache, an engine volume (ops/deps.py)


@dataclass(frozen=True, kw_only=True)
class SuitePlan:
    """The suite's run in a commit image."""

    suite: Suite
    gpu: GpuNeeds
    driver_dir: str | None  # the host's driver folder, when it exists (gpu mode devices)
    model_cache: Path | None
    timeout_s: float
    limits: Limits
    wrapper: WrapperPlan | None = None  # the wrapper's command runs instead of harness's runner


@dataclass(frozen=True, kw_only=True)
class Plan:
    ref: str
    level: Level | None  # None: the deepest level the host can run, picked when the run starts
    rebuild: bool
    no_cache: bool
    suite: str
    suite_hash: str
    state_dir: Path
    contract: ContractPlan
    build: BuildPlan
    test: SuitePlan
    runs_dir: Path  # the run folders' parent (Config.runs_dir)

    def on_gpu(self, index: int) -> Plan:
        """The plan narrowed to one GPU (parallel runs: one each)."""
        gpu = dataclasses.replace(self.test.gpu, gpus=(index,))
        return dataclasses.replace(self, test=dataclasses.replace(self.test, gpu=gpu))

    def for_ref(self, ref: str, level: Level | None) -> Plan:
        """The same plan for another commit (a bisect probe): nothing is read again."""
        return dataclasses.replace(self, ref=ref, level=level)

    @property
    def wrapper(self) -> WrapperPlan | None:
        return self.build.wrapper

    def for_wrapper(self, ref: str) -> Plan:
        """The same plan with the wrapper at another commit (a bisect over the wrapper's side)."""
        if self.build.wrapper is None:
            raise UsageError("the wrapper's side needs a `wrapper:` section in harness.yaml")
        wrapper = dataclasses.replace(self.build.wrapper, ref=ref)
        build = dataclasses.replace(self.build, wrapper=wrapper)
        return dataclasses.replace(self, build=build, test=dataclasses.replace(self.test, wrapper=wrapper))

    def lines(self) -> tuple[str, ...]:
        """The plan in words, a fact a line (`--dry-run` without --json)."""
        test, build = self.test, self.build
        cases = ", ".join(f"{c.id} ({c.model}, {c.width}x{c.height}, {c.frames} frames)" for c in test.suite.cases)
        return (
            f"plan for {self.ref}: nothing is built or run (--dry-run)",
            f"  level     {self.level or 'auto: the deepest this host can run'}",
            f"  suite     {self.suite} {self.suite_hash}, retries {test.suite.retries}: {cases}",
            f"  contract  {self.contract.source or 'none'} {self.contract.digest}",
            f"  recipe    {build.recipe.name} ({build.recipe.folder}), base {build.recipe.base}",
            f"  image     {build.repo}, wheelhouse {build.host.wheelhouse or 'none'} {build.host.wheelhouse_digest}",
            f"  build     timeout {build.timeout_s:g} s, retries {build.retries}, rebuild {self.rebuild}, "
            f"no-cache {self.no_cache}",
            f"  run       gpu {test.gpu.mode} {list(test.gpu.gpus) or 'all'}, timeout {test.timeout_s:g} s, "
            f"memory {_memory(test.limits.memory_bytes)}, pids {test.limits.pids}",
            f"  state     {self.state_dir}",
            *(self.wrapper.lines() if self.wrapper else ("  wrapper   none: harness's own runner judges upstream",)),
        )

    def to_dict(self) -> dict[str, object]:
        """What would be built and run, for `--dry-run` (and the watch loop's queue)."""
        test, build = self.test, self.build
        return {
            "ref": self.ref,
            "level": self.level or "auto (the deepest this host can run)",
            "suite": {"name": self.suite, "hash": self.suite_hash, "retries": test.suite.retries},
            "cases": [dataclasses.asdict(c) for c in test.suite.cases],
            "contract": {"file": self.contract.source or "none", "hash": self.contract.digest},
            "build": {
                "repo": build.repo,
                "recipe": build.recipe.name,
                "recipe_folder": str(build.recipe.folder),
                "base": build.recipe.base,
                "wheelhouse": build.host.wheelhouse,
                "wheelhouse_digest": build.host.wheelhouse_digest,
                "overlays": [name for name, _ in build.overlays],
                "timeout_s": build.timeout_s,
                "retries": build.retries,
                "rebuild": self.rebuild,
                "no_cache": self.no_cache,
            },
            "run": {
                "gpu": test.gpu.mode,
                "gpus": list(test.gpu.gpus) or "all",
                "timeout_s": test.timeout_s,
                "model_cache": str(test.model_cache) if test.model_cache else None,
                "limits": dataclasses.asdict(test.limits),
            },
            "state_dir": str(self.state_dir),
            "wrapper": _wrapper_dict(self.wrapper),
        }


def _wrapper_dict(wrapper: WrapperPlan | None) -> dict[str, object] | None:
    if wrapper is None:
        return None
    doc = {k: v for k, v in dataclasses.asdict(wrapper).items() if k != "series"}
    names = [p.name for p in wrapper.series.patches] if wrapper.series else []
    return doc | {"patches": str(wrapper.series.folder) if wrapper.series else None, "series": names}


def wrapper_plan(cfg: WrapperConfig | None, ref: str | None = None) -> WrapperPlan | None:
    """The wrapper's part of the plan (`ref` overrides wrapper.ref, e.g. `--wrapper-ref`)."""
    if cfg is None:
        if ref is not None:
            raise UsageError(f"--wrapper-ref {ref}: harness.yaml has no `wrapper:` section to take it")
        return None
    return WrapperPlan(
        url=cfg.url,
        ref=ref or cfg.ref,
        upstream_dir=cfg.upstream_dir,
        command=cfg.command,
        results=cfg.results,
        requirements=cfg.requirements,
        series=series_for(cfg),
    )


def contract_digest(path: Path | None) -> str:
    """Which contract judged a run: its file's content hash, or "none" when none is checked."""
    return "none" if path is None else hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def judging_contract(configured: Path | None, level: str | None) -> Path | None:
    """The contract a run at `level` checks: at level contract, like `harness check`, the
    bundled one when none is configured; at the other levels only a configured one."""
    return (configured or DEFAULT_CONTRACT) if level == "contract" else configured


def level_of(value: str | None) -> Level | None:
    """`value` as a level (None: pick the deepest the host can run when the run starts)."""
    if value is None:
        return None
    for level in LEVELS:
        if value == level:
            return level
    raise UsageError(f"--level {value!r}: allowed: {', '.join(LEVELS)}")


def load_plan(
    cfg: Config,
    *,
    ref: str,
    level: str | None = None,
    rebuild: bool = False,
    no_cache: bool = False,
    wrapper_ref: str | None = None,
    derived: DerivedContract | None = None,
) -> Plan:
    """Read everything a build-and-test of `ref` needs from the config's files (no engine, no git).

    With `contract: derived` the caller derives the contract first (that reads the wrapper from
    git) and hands it in as `derived`; it then judges at every level, like a configured file."""
    suite = cfg.suite
    if cfg.contract_derived and derived is None:
        # A bug, not the user's: the boundary reports it as one (exit 128, traceback kept).
        raise RuntimeError("contract: derived, but the plan was loaded without the derived contract")
    wrapper = wrapper_plan(cfg.wrapper, wrapper_ref)
    return Plan(
        ref=ref,
        level=level_of(level),
        rebuild=rebuild,
        no_cache=no_cache,
        suite=suite.name,
        suite_hash=suite.digest(),  # hashes overlay and input files: once per plan
        state_dir=cfg.state_dir,
        runs_dir=cfg.runs_dir,
        contract=contract_plan(judging_contract(cfg.contract, level), suite, derived=derived),
        build=dataclasses.replace(build_plan(cfg), wrapper=wrapper),
        test=dataclasses.replace(suite_plan(cfg), wrapper=wrapper),
    )


def contract_plan(path: Path | None, suite: Suite, *, derived: DerivedContract | None = None) -> ContractPlan:
    """The contract file at `path` (None: none), or the `derived` one when given."""
    overlays = suite.overlays
    contract: Contract | None
    if derived is not None:
        contract, source, digest = derived.contract, derived.source, derived.digest
    else:
        contract = load_contract(path) if path is not None else None
        source, digest = (str(path) if path is not None else ""), contract_digest(path)
    return ContractPlan(
        contract=contract,
        source=source,
        digest=digest,
        overlay_ids=frozenset(p.stem for p in overlays.glob("*.json")) if overlays else frozenset(),
        suite_models=tuple(c.model for c in suite.cases),
    )


def gpu_needs(cfg: Config) -> GpuNeeds:
    return GpuNeeds(
        mode=cfg.gpu,
        gpus=cfg.gpus,
        requires_gpu=cfg.suite.requires_gpu,
        min_free_gib=cfg.suite.min_free_gpu_gib,
        remote=cfg.fleet is not None,
    )


def suite_plan(cfg: Config) -> SuitePlan:
    return SuitePlan(
        suite=cfg.suite,
        gpu=gpu_needs(cfg),
        driver_dir=str(cfg.driver_dir) if cfg.driver_dir.is_dir() else None,
        model_cache=cfg.model_cache,
        timeout_s=float(cfg.run_timeout_s),
        limits=cfg.limits,
    )


def build_plan(cfg: Config) -> BuildPlan:
    return BuildPlan(
        repo=cfg.repo,
        recipe=load_recipe(cfg.recipe_dir),
        host=host_files(cfg),
        overlays=overlay_files(cfg.suite.overlays),
        timeout_s=float(cfg.build_timeout_s),
        retries=cfg.build_retries,
        backoff_s=cfg.build_backoff_s,
        state_dir=cfg.state_dir,
        cache_volume=cfg.cache_volume,
    )


def host_files(cfg: Config) -> HostFiles:
    """What the builds read from the host's files (the engine's facts come at build time)."""
    uv = uv_binary()
    return HostFiles(
        ca_bundle=cfg.ca_bundle.read_bytes() if cfg.ca_bundle else b"",
        wheelhouse=str(cfg.wheelhouse) if cfg.wheelhouse else None,
        wheelhouse_digest=wheelhouse_digest(cfg.wheelhouse),
        pip_options=cfg.pip_options,
        dockerfiles=tuple((s, (cfg.docker_dir / STAGE_FILES[s]).read_text()) for s in STAGES),
        uv_binary=uv,
        uv_digest=file_digest(uv),
        runner_files=tuple((p.name, p.read_bytes()) for p in sorted(RUNNER_DIR.glob("*.py"))),
        state_dir=str(cfg.state_dir),
    )


def uv_binary() -> str:
    """The uv every build installs with: the one harness was installed with (its `uv` package),
    else the first on PATH; "" for none (a build then says so)."""
    try:
        import uv

        return str(uv.find_uv_bin())
    except (ImportError, FileNotFoundError):
        return shutil.which("uv") or ""


def file_digest(path: str) -> str:
    """Name, size and mtime: a replaced binary changes the keys built on it."""
    if not path:
        return ""
    st = Path(path).stat()
    return f"{Path(path).name}:{st.st_size}:{st.st_mtime_ns}"


def wheelhouse_digest(folder: Path | None) -> str:
    # Names, sizes and mtimes: a replaced wheel changes the key without hashing GBs per build.
    if folder is None:
        return ""
    h = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        st = path.stat()
        h.update(f"{path.relative_to(folder)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def overlay_files(folder: Path | None) -> tuple[tuple[str, bytes], ...]:
    if folder is None:
        return ()
    return tuple((p.relative_to(folder).as_posix(), p.read_bytes()) for p in sorted(folder.rglob("*")) if p.is_file())


def _memory(limit: int | None) -> str:
    """run.memory_gib in words: absent is a share of the engine host's RAM, 0 is `unlimited`."""
    if limit is None:
        return f"{MEMORY_SHARE:.0%} of the engine host's RAM"
    return "unlimited" if limit == 0 else f"{limit / 2**30:g} GiB"
