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
    found = cfg.source.is_file()
    rows = [
        Row(
            area="config",
            item="file",
            ok=True,
            value=str(cfg.source) if found else "none here: defaults (-c PATH or HARNESS_CONFIG=PATH to use one)",
        )
    ]
    try:
        runtimes = engine.runtimes()
        rows.append(Row(area="engine", item="version", value=engine.version(), ok=True))
        rows.append(Row(area="engine", item="runtimes", value=", ".join(sorted(runtimes)), ok=True))
    except HarnessError as exc:
        return [*rows, Row(area="engine", item="reachable", value=str(exc), ok=False)]
    nodes = gpu.device_nodes()
    rows.append(Row(area="gpu", item="device nodes", value=", ".join(nodes) or "none", ok=True))
    driver_dir = str(cfg.driver_dir) if cfg.driver_dir.is_dir() else None
    rows.append(Row(area="gpu", item="driver folder", value=driver_dir or f"{cfg.driver_dir} (missing)", ok=True))
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
    gpus, error = gpu.gpus()
    for g in gpus:
        rows.append(
            Row(
                area="gpu",
                item=f"GPU {g.index}",
                ok=True,
                value=(
                    f"{g.name}, sm_{g.capability[0]}{g.capability[1]}, {g.free_mib / 1024:.0f}"
                    f"/{g.memory_total_mib / 1024:.0f} GiB free, driver {g.driver}, {g.uuid}"
                ),
            )
        )
    if not gpus:
        rows.append(Row(area="gpu", item="NVML", value=error or "no GPU", ok=not cfg.suite.requires_gpu))
    for problem in host_problems(gpus, error, min_free_gib=cfg.suite.min_free_gpu_gib) if gpus else []:
        rows.append(Row(area="gpu", item="preflight", value=problem, ok=False))
    try:
        recipe = load_recipe(cfg.recipe_dir)
        base = engine.image_id(recipe.base)
        rows.append(
            Row(
                area="image",
                item=f"base ({recipe.name})",
                ok=base is not None,
                value=f"{recipe.base} {base[7:19] if base else 'not on this engine'}",
            )
        )
    except HarnessError as exc:
        rows.append(Row(area="image", item="recipe", value=str(exc), ok=False))
    cache = cfg.model_cache
    rows.append(Row(area="models", item="cache", ok=True, value=str(cache) if cache else "none (run.model_cache)"))
    rows.append(Row(area="state", item="folder", ok=True, value=str(cfg.state_dir)))
    return rows
