"""The STRUCTURE.md pin block (harness/ops/pin.py)."""

from __future__ import annotations

from harness.ops.pin import BEGIN, END, pin_block, with_pin


def test_pin_block_is_appended_then_replaced() -> None:
    first = with_pin("# Notes\n\ntext\n", pin_block(sha="a" * 40, revision=1, image_id="sha256:" + "b" * 64, when="t1"))
    assert first.startswith("# Notes") and "a" * 40 in first and first.count(BEGIN) == 1
    second = with_pin(first, pin_block(sha="c" * 40, revision=2, image_id="sha256:" + "d" * 64, when="t2"))
    assert "a" * 40 not in second and "c" * 40 in second and second.count(END) == 1
    assert "text" in second
    assert with_pin("", pin_block(sha="e" * 40, revision=3, image_id="x", when="t")).startswith("# Structure")
