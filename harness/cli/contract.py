"""`harness contract derive`: the wrapper's integration contract, derived from its source."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

import harness.cli.world as world
from harness.cli.app import JsonOpt, app, err, out
from harness.report import to_json

contract_app = typer.Typer(help="The integration contract: derive it from the wrapper's source.", no_args_is_help=True)
app.add_typer(contract_app, name="contract")


@contract_app.command("derive")
def derive_cmd(
    wrapper: Annotated[
        str | None, typer.Option("--wrapper", help="wrapper git URL or path (default: the config's wrapper.url)")
    ] = None,
    ref: Annotated[str | None, typer.Option("--ref", help="wrapper ref (default: wrapper.ref, else HEAD)")] = None,
    out_file: Annotated[Path | None, typer.Option("--out", help="write the contract here (default: stdout)")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Derive what the wrapper uses of upstream's `wgp` (ast, nothing imported or checked out):
    functions with their arity and keywords, globals, models, each with file:line; the
    contract `harness check` reads (`contract: FILE` in harness.yaml, or `contract: derived`)."""
    cfg = world.config_or_defaults()
    derived = world.derived_contract_at(cfg, url=wrapper, ref=ref)
    if out_file is not None:
        out_file.write_text(derived.text)
    if json_out:
        doc = {
            "wrapper": derived.url,
            "ref": ref,
            "sha": derived.commit.sha,
            "digest": derived.digest,
            "out": str(out_file) if out_file else None,
            "skipped": list(derived.skipped),
            "contract": dataclasses.asdict(derived.contract),
        }
        out.print_json(to_json(doc))
    elif out_file is None:
        out.print(derived.text, markup=False, highlight=False, end="")
    for skipped in derived.skipped:
        err.print(f"note: {escape(skipped)}", highlight=False)
    err.print(escape(derived.summary()), highlight=False)
