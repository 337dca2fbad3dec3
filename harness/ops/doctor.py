"""doctor: the whole picture of this host for harness, as rows of (area, item, value, ok)."""

from __future__ import annotations

from dataclasses import dataclass

from harness.config import Config
from harness.errors import HarnessError
from harness.ports import EngineInfo, GpuProbe
from harness.preflight import host_problems
from harness.recipe import load_recipe
from harness.runplan import plan_gpu


@dataclass(frozen=True, kw_only=True)
class Row:
    area: str
    item: str
    value: str
    ok: bool


def doctor(cfg: Config, engine: EngineInfo, gpu: GpuProbe) -> list[Row]:
    """Config, engine, GPU, base image, model cache and state folder, each a row."""
    rows = [_config_row(cfg)]
    try:
        runtimes = engine.runtimes()
        rows.append(Row(area="engine", item="version", value=engine.version(), ok=True))
        rows.append(Row(area="engine", item="runtimes", value=", ".join(sorted(runtimes)), ok=True))
    except HarnessError as exc:
        return [*rows, Row(area="engine", item="reachable", value=str(exc), ok=False)]
    rows += _gpu_rows(cfg, gpu, runtimes)
    rows.append(_base_image_row(cfg, engine))
    cache = cfg.model_cache
    rows.append(Row(area="models", item="cache", ok=True, value=str(cache) if cache else "none (run.model_cache)"))
    rows.append(Row(area="state", item="folder", ok=True, value=str(cfg.state_dir)))
    return rows


def _config_row(cfg: Config) -> Row:
    found = cfg.source.is_file()
    return Row(
        area="config",
        item="file",
        ok=True,
        value=str(cfg.source) if found else "none here: defaults (-c PATH or HARNESS_CONFIG=PATH to use one)",
    )


def _gpu_rows(cfg: Config, gpu: GpuProbe, runtimes: set[str]) -> list[Row]:
    nodes = gpu.device_nodes()
    driver_dir = str(cfg.driver_dir) if cfg.driver_dir.is_dir() else None
    rows = [
        Row(area="gpu", item="device nodes", value=", ".join(nodes) or "none", ok=True),
        Row(area="gpu", item="driver folder", value=driver_dir or f"{cfg.driver_dir} (missing)", ok=True),
    ]
    try:
        plan = plan_gpu(
            cfg.gpu,
            runtimes=runtimes,
            nodes=nodes,
            driver_dir=driver_dir,
            required=cfg.suite.requires_gpu,
            gpus=cfg.gpus,
        )
        rows.append(Row(area="gpu", item=f"mode ({cfg.gpu})", value=f"{plan.mode}: {plan.reason}", ok=True))
    except HarnessError as exc:
        rows.append(Row(area="gpu", item=f"mode ({cfg.gpu})", value=str(exc), ok=False))
    return rows + _device_rows(cfg, gpu)


def _device_rows(cfg: Config, gpu: GpuProbe) -> list[Row]:
    """One row per GPU NVML sees (or why none), then what preflight would refuse."""
    gpus, error = gpu.gpus()
    rows = [
        Row(
            area="gpu",
            item=f"GPU {g.index}",
            ok=True,
            value=(
                f"{g.name}, sm_{g.capability[0]}{g.capability[1]}, {g.free_mib / 1024:.0f}"
                f"/{g.memory_total_mib / 1024:.0f} GiB free, driver {g.driver}, {g.uuid}"
            ),
        )
        for g in gpus
    ]
    if not gpus:
        return [Row(area="gpu", item="NVML", value=error or "no GPU", ok=not cfg.suite.requires_gpu)]
    problems = host_problems(gpus, error, min_free_gib=cfg.suite.min_free_gpu_gib)
    return rows + [Row(area="gpu", item="preflight", value=problem, ok=False) for problem in problems]


def _base_image_row(cfg: Config, engine: EngineInfo) -> Row:
    try:
        recipe = load_recipe(cfg.recipe_dir)
        base = engine.image_id(recipe.base)
    except HarnessError as exc:
        return Row(area="image", item="recipe", value=str(exc), ok=False)
    return Row(
        area="image",
        item=f"base ({recipe.name})",
        ok=base is not None,
        value=f"{recipe.base} {base[7:19] if base else 'not on this engine'}",
    )
