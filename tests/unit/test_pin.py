"""pin: the STRUCTURE.md pin block, and the gitlink staged at production (harness/ops/pin.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import UsageError
from harness.ops.pin import BEGIN, END, pin, pin_block, with_pin
from harness.ops.promote import promote
from harness.store import Store
from tests.unit.fakes import FakeBuilder, FakeUpstream, image, mover, record, sha


def test_pin_block_is_appended_then_replaced() -> None:
    first = with_pin("# Notes\n\ntext\n", pin_block(sha="a" * 40, revision=1, image_id="sha256:" + "b" * 64, when="t1"))
    assert first.startswith("# Notes") and "a" * 40 in first and first.count(BEGIN) == 1
    second = with_pin(first, pin_block(sha="c" * 40, revision=2, image_id="sha256:" + "d" * 64, when="t2"))
    assert "a" * 40 not in second and "c" * 40 in second and second.count(END) == 1
    assert "text" in second
    assert with_pin("", pin_block(sha="e" * 40, revision=3, image_id="x", when="t")).startswith("# Structure")


class FakeCheckout:
    """The user's checkout: what was set and staged, in order."""

    def __init__(self) -> None:
        self.done: list[tuple[str, ...]] = []

    def set_gitlink(self, repo_dir: Path, path: str, sha: str) -> str:
        self.done.append(("gitlink", str(repo_dir), path, sha))
        return str(repo_dir)

    def stage_paths(self, repo_dir: Path, paths: list[str]) -> None:
        self.done.append(("stage", str(repo_dir), *paths))


def _checkout_folder(tmp_path: Path) -> Path:
    top = tmp_path / "wrapper"
    (top / ".git").mkdir(parents=True)
    (top / "STRUCTURE.md").write_text("# Structure\n\nour notes\n")
    return top


def _in_production(tmp_path: Path) -> Store:
    store = Store(tmp_path / "state.db")
    store.add_run(record(sha("a"), image("a"), "20260101-000001-aaaaa1"))
    promote(
        mover(store, FakeBuilder({"harness-test/x:aaaa": image("a")}), FakeUpstream(), tmp_path),
        image("a"),
        reason="",
        force=False,
    )
    return store


def test_pin_stages_the_gitlink_at_the_production_commit_and_the_structure_note(tmp_path: Path) -> None:
    top, checkout = _checkout_folder(tmp_path), FakeCheckout()
    pinned, command = pin(_in_production(tmp_path), checkout, top, submodule="Wan2GP", now="2026-01-02")
    assert pinned == sha("a")
    assert checkout.done == [
        ("gitlink", str(top.resolve()), "Wan2GP", sha("a")),
        ("stage", str(top.resolve()), "STRUCTURE.md"),
    ]
    text = (top / "STRUCTURE.md").read_text()
    assert "our notes" in text and f"`{sha('a')}`: production revision 1" in text and "pinned 2026-01-02" in text
    assert command == f"git -C {top.resolve()} commit -m 'pin Wan2GP to {sha('a')[:12]}'"


@pytest.mark.parametrize(
    ("where", "why"),
    [(None, "give --repo DIR"), ("plain", "not the top folder of a git repository")],
)
def test_pin_refuses_a_missing_or_non_top_folder_and_touches_nothing(
    tmp_path: Path, where: str | None, why: str
) -> None:
    (tmp_path / "plain").mkdir()
    checkout = FakeCheckout()
    with pytest.raises(UsageError) as info:
        pin(_in_production(tmp_path), checkout, tmp_path / where if where else None, submodule="Wan2GP", now="t")
    assert why in str(info.value) and checkout.done == []


def test_pin_without_production_says_so_and_touches_nothing(tmp_path: Path) -> None:
    top, checkout = _checkout_folder(tmp_path), FakeCheckout()
    with pytest.raises(UsageError) as info:
        pin(Store(tmp_path / "state.db"), checkout, top, submodule="Wan2GP", now="t")
    assert "nothing to pin" in str(info.value) and checkout.done == []
    assert (top / "STRUCTURE.md").read_text() == "# Structure\n\nour notes\n"
