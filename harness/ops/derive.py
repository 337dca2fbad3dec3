"""contract derive: the wrapper's contract at one of its commits, read from git (no checkout).

Resolve the wrapper's ref, read its Python and JSON files from the tree (skipping the
upstream tree it vendors: that is upstream's code, not the wrapper's use of it), derive,
render. The rendered text is what `harness check` reads and its digest what runs record.
"""

from __future__ import annotations

from harness.contract_yaml import digest, render
from harness.derive import DerivedContract, command_scripts, derive
from harness.ports import Upstream


def derive_contract(wrapper: Upstream, ref: str, *, url: str, upstream_dir: str, command: str = "") -> DerivedContract:
    """The contract of the wrapper at `ref`; `command` (its test command) names test scripts
    whose model ids count besides its tests/ and test_*.py files."""
    commit = wrapper.resolve(ref)
    skipped: list[str] = []
    sources: dict[str, str] = {}
    configs: dict[str, str] = {}
    vendored = upstream_dir.strip("/") + "/"
    missing: list[str] = []
    models: set[str] = set()
    for entry in wrapper.iter_tree(commit.sha, missing):
        if entry.path.startswith(vendored):
            models |= _model_id(entry.path.removeprefix(vendored))
            continue
        if not entry.path.endswith((".py", ".json")):
            continue
        try:
            text = entry.data.decode("utf-8")
        except UnicodeDecodeError:
            skipped.append(f"{entry.path}: not UTF-8")
            continue
        (sources if entry.path.endswith(".py") else configs)[entry.path] = text
    skipped += [f"{path}: missing from the mirror" for path in missing if not path.startswith(vendored)]
    derivation = derive(
        sources=sources,
        configs=configs,
        wrapper=url,
        sha=commit.sha,
        test_files=command_scripts(command),
        vendored_models=models,
    )
    text = render(derivation.contract)
    return DerivedContract(
        contract=derivation.contract,
        text=text,
        digest=digest(text),
        commit=commit,
        url=url,
        skipped=(*skipped, *derivation.skipped),
    )


def _model_id(path: str) -> set[str]:
    """{id} for a model definition (defaults/<id>.json, finetunes/<id>.json), else {}."""
    folder, _, name = path.partition("/")
    return {name.removesuffix(".json")} if folder in ("defaults", "finetunes") and name.endswith(".json") else set()
