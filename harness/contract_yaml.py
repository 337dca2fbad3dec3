"""A contract as YAML (pure): the file `harness contract derive` writes and `load_contract` reads.

The text is deterministic (items sorted, keys in a fixed order, defaults left out), so the
same wrapper commit always renders the same bytes and its digest names the contract that
judged a run.
"""

from __future__ import annotations

import hashlib

import yaml

from harness.contract import Contract, FunctionItem, Provenance

HEADER = """\
# The integration contract derived from the wrapper's source by `harness contract derive`
# (ast, nothing imported): what it uses of upstream's `wgp`. `harness check` reads it like
# harness/contract.yaml; `provenance` says where each item was found and is never judged
# (`optional`: names used only inside a `try:` that copes with their absence: not judged).
"""


def _function(item: FunctionItem) -> dict[str, object]:
    doc: dict[str, object] = {"names": list(item.names)}
    if item.positional:
        doc["positional"] = list(item.positional)
    if item.arity is not None:
        doc["arity"] = item.arity
    if item.unknown_arity:
        doc["unknown_arity"] = True
    if item.keyword:
        doc["keyword"] = list(item.keyword)
    if item.unknown_keywords:
        doc["unknown_keywords"] = True
    if item.fills_all_settings:
        doc["fills_all_settings"] = True
    return doc


def _provenance(p: Provenance) -> dict[str, object]:
    items = [{"kind": k, "name": n, "where": list(w)} for k, n, w in sorted(p.where)]
    doc: dict[str, object] = {"wrapper": p.wrapper, "sha": p.sha, "items": items}
    if p.optional:
        doc["optional"] = list(p.optional)
    return doc


def render(contract: Contract) -> str:
    """The contract's YAML text: functions by first name, every list as given (the deriver sorts)."""
    doc: dict[str, object] = {
        "files": list(contract.files),
        "functions": [_function(f) for f in sorted(contract.functions, key=lambda f: f.names)],
        "globals": list(contract.globals),
        "models": list(contract.models),
        "entry_points": list(contract.entry_points),
    }
    if contract.provenance is not None:
        doc["provenance"] = _provenance(contract.provenance)
    body = yaml.safe_dump(doc, sort_keys=False, default_flow_style=None, width=110, allow_unicode=False)
    return HEADER + body


def digest(text: str) -> str:
    """The contract_hash of runs a rendered contract judged (the same form as a file's digest)."""
    return hashlib.sha256(text.encode()).hexdigest()[:16]
