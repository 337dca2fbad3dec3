"""The report's SVG plots: well-formed and self-contained, caller text escaped, only relative links,
gaps kept as gaps, round ticks, short numbers, the same bytes for the same plot."""

from __future__ import annotations

import itertools
import math
import re
import xml.etree.ElementTree as ET

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.site.svg import PALETTE, Plot, Series, fmt, nice_step, nice_ticks, render, safe_href

SVG = "{http://www.w3.org/2000/svg}"
XLINK_HREF = "{http://www.w3.org/1999/xlink}href"
HOSTILE = "<script>alert(1)</script> \"quotes\" & 'apostrophes'"
ALLOWED_TAGS = {f"{SVG}{tag}" for tag in ("svg", "title", "text", "line", "path", "circle", "a", "rect")}


def _plot(*series: Series, labels: int = 8, title: str = "generation time", unit: str = "s") -> Plot:
    return Plot(title=title, unit=unit, series=series, x_labels=tuple(f"{i:07x}" for i in range(labels)))


def _line(name: str, *values: float | None, href: tuple[str, ...] = ()) -> Series:
    return Series(name=name, points=tuple(enumerate(values)), href=href)


def _parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    return root


def _texts(root: ET.Element) -> list[str]:
    return [el.text or "" for el in root.iter(f"{SVG}text")]


def _subpaths(root: ET.Element) -> list[int]:
    """Per path, the points of each subpath."""
    return [len(sub.split(" L")) for p in root.iter(f"{SVG}path") for sub in p.get("d", "").split("M")[1:]]


def test_output_is_a_self_contained_svg_document() -> None:
    svg = render(_plot(_line("a", 1.0, 2.0, None, 3.0, href=("runs/1.html", "", "", "../runs/3.html"))))
    root = _parse(svg)
    assert root.get("version") == "1.1"
    for el in root.iter():
        assert el.tag in ALLOWED_TAGS  # no script, foreignObject, image, style or use
        assert not [k for k in el.attrib if k.lower().startswith("on")]  # no event attributes
    assert "url(" not in svg and "<!" not in svg and "<?" not in svg


def test_caller_text_appears_only_escaped() -> None:
    plot = Plot(
        title=HOSTILE,
        unit="<b>",
        series=(_line(HOSTILE, 1.0, 2.0, href=("a.html", "b.html")),),
        x_labels=(HOSTILE, "x"),
    )
    svg = render(plot)
    root = _parse(svg)
    assert "<script" not in svg and "<b>" not in svg
    assert not list(root.iter(f"{SVG}script"))
    texts = _texts(root)
    assert HOSTILE in texts  # the legend: the parsed text is the raw name
    assert f"{HOSTILE} (<b>)" in texts  # the heading
    assert f"{HOSTILE}\n{HOSTILE}: 1 <b>" in [t.text for t in root.iter(f"{SVG}title")]  # a point's tooltip


def test_text_the_xml_cannot_hold_is_dropped_not_left_to_break_the_page() -> None:
    root = _parse(render(_plot(_line("a\x00b\x1bc", 1.0), title="t\x07")))
    assert "abc" in _texts(root)


def test_a_missing_value_breaks_the_line_and_draws_no_point() -> None:
    root = _parse(render(_plot(_line("a", 1.0, 2.0, None, 3.0, 4.0, 5.0))))
    assert _subpaths(root) == [2, 3]
    assert len(list(root.iter(f"{SVG}circle"))) == 5  # the gap is not drawn as a zero


def test_an_absent_index_or_a_nan_breaks_the_line_too() -> None:
    absent = Series(name="a", points=((0, 1.0), (1, 2.0), (3, 3.0), (4, 4.0)))
    assert _subpaths(_parse(render(_plot(absent)))) == [2, 2]
    assert _subpaths(_parse(render(_plot(_line("a", 1.0, 2.0, math.nan, 3.0, 4.0))))) == [2, 2]


def test_a_lone_value_between_gaps_is_a_point_without_a_line() -> None:
    root = _parse(render(_plot(_line("a", None, 2.0, None, None))))
    assert _subpaths(root) == []
    assert len(list(root.iter(f"{SVG}circle"))) == 1


@pytest.mark.parametrize(
    "href",
    [
        "javascript:alert(1)",
        "JavaScript:alert(1)",
        " javascript:alert(1)",
        "java\tscript:alert(1)",
        "data:text/html,x",
        "https://example.com/",
        "//example.com/x",
        "/etc/passwd",
        "\\\\example.com\\x",
        "runs/a\x00b.html",
        "",
    ],
)
def test_links_that_are_not_relative_paths_are_dropped(href: str) -> None:
    assert safe_href(href) == ""
    root = _parse(render(_plot(_line("a", 1.0, 2.0, href=(href, href)))))
    assert not list(root.iter(f"{SVG}a"))
    assert len(list(root.iter(f"{SVG}circle"))) == 2  # the points stay, without links


@pytest.mark.parametrize("href", ["runs/abc.html", "../runs/abc.html#case", "run.html?x=a:b", "r%3Ajs.html"])
def test_relative_links_are_kept(href: str) -> None:
    root = _parse(render(_plot(_line("a", 1.0, href=(href,)))))
    assert [a.get(XLINK_HREF) for a in root.iter(f"{SVG}a")] == [href]


def test_links_must_match_the_points_one_for_one() -> None:
    with pytest.raises(ValueError, match="2 links for 3 points"):
        _line("a", 1.0, 2.0, 3.0, href=("a.html", "b.html"))


@pytest.mark.parametrize(
    "plot",
    [
        _plot(),
        _plot(_line("a"), labels=0),
        _plot(_line("a", None, None), _line("b", math.inf)),
    ],
)
def test_a_plot_without_values_says_no_data(plot: Plot) -> None:
    root = _parse(render(plot))
    assert "no data" in _texts(root)
    assert not list(root.iter(f"{SVG}circle"))


def test_the_same_plot_gives_the_same_bytes() -> None:
    def make() -> Plot:
        return _plot(_line("a", 1.5, None, 0.1 + 0.2, href=("x.html", "", "y.html")), _line("b", -3.0, 7.25, 2.0))

    assert render(make()) == render(make())
    assert render(make()) != render(_plot(_line("a", 1.5, None, 0.4)))


def test_numbers_are_short() -> None:
    svg = render(_plot(_line("a", 0.1 + 0.2, 1 / 3, 123456.789, -0.00012345)))
    assert not re.search(r"\.\d{7}|\de[-+]\d", svg)  # no float noise, no exponents
    assert (fmt(0.1 + 0.2), fmt(1 / 3), fmt(123456.789), fmt(-0.00012345), fmt(-0.0)) == (
        "0.3",
        "0.3333",
        "123457",
        "-0.000123",
        "0",
    )


@pytest.mark.parametrize(
    ("low", "high", "ticks"),
    [
        (0, 100, (0, 20, 40, 60, 80, 100)),
        (0.1, 0.3, (0.1, 0.15, 0.2, 0.25, 0.3)),
        (-3.2, 7.9, (-4, -2, 0, 2, 4, 6, 8)),
        (0.02, 0.97, (0, 0.2, 0.4, 0.6, 0.8, 1)),
        (2048, 7900, (2000, 3000, 4000, 5000, 6000, 7000, 8000)),
        (5, 5, (4.4, 4.6, 4.8, 5, 5.2, 5.4, 5.6)),
        (0, 0, (-1, -0.5, 0, 0.5, 1)),
    ],
)
def test_ticks_are_round_and_cover_the_range(low: float, high: float, ticks: tuple[float, ...]) -> None:
    assert nice_ticks(low, high) == ticks


@given(
    st.floats(min_value=-1e6, max_value=1e6, allow_nan=False),
    st.floats(min_value=1e-3, max_value=1e6, allow_nan=False),
)
def test_ticks_always_use_a_1_2_5_step_and_cover_the_range(low: float, span: float) -> None:
    high = low + span
    ticks = nice_ticks(low, high)
    step = nice_step(high - low)
    slack = step * 1e-6  # float noise at the ends is not worth an extra tick
    assert ticks[0] <= low + slack and ticks[-1] >= high - slack
    assert 3 <= len(ticks) <= 11
    mantissa = step / 10 ** math.floor(math.log10(step) + 1e-9)
    assert any(math.isclose(mantissa, m) for m in (1, 2, 5, 10))
    assert all(math.isclose(b - a, step, rel_tol=1e-6) for a, b in itertools.pairwise(ticks))


def test_the_extremes_are_labelled() -> None:
    texts = _texts(_parse(render(_plot(_line("a", 12.5, -3.25, 7.0)))))
    assert "min -3.25 s, max 12.5 s" in texts


def test_one_point_and_a_flat_line_render_centred() -> None:
    one = _parse(render(_plot(_line("a", 5.0), labels=1), width=640, height=220))
    (dot,) = one.iter(f"{SVG}circle")
    flat = _parse(render(_plot(_line("a", 5.0, 5.0, 5.0))))
    ys = {c.get("cy") for c in flat.iter(f"{SVG}circle")}
    tick_rows = {line.get("y1") for line in flat.iter(f"{SVG}line") if line.get("y1") == line.get("y2")}
    assert len(ys) == 1 and ys < tick_rows  # mid-plot, on the "5" grid line
    assert float(dot.get("cx", "")) > 300  # a lone commit sits mid-width, not on the axis


def test_hundreds_of_commits_keep_every_point_and_label_a_few() -> None:
    values = [float(i % 17) if i % 50 else None for i in range(350)]
    root = _parse(render(_plot(_line("a", *values), labels=350)))
    assert len(list(root.iter(f"{SVG}circle"))) == sum(v is not None for v in values)
    shas = [t for t in _texts(root) if len(t) == 7]
    assert 2 <= len(shas) <= 12
    assert shas[0] == f"{0:07x}" and shas[-1] == f"{349:07x}"  # the ends are always named


def test_negative_values_stay_inside_the_plot_area() -> None:
    root = _parse(render(_plot(_line("a", -40.0, -2.5, -17.0)), height=220))
    rows = [float(c.get("cy", "")) for c in root.iter(f"{SVG}circle")]
    grid = [float(line.get("y1", "")) for line in root.iter(f"{SVG}line") if line.get("y1") == line.get("y2")]
    assert min(grid) <= min(rows) and max(rows) <= max(grid)


def test_the_legend_names_each_series_in_palette_colours_cycled() -> None:
    series = [_line(f"c{i}", float(i)) for i in range(len(PALETTE) + 2)]
    root = _parse(render(_plot(*series)))
    swatches = [r.get("fill") for r in root.iter(f"{SVG}rect")]
    assert swatches == [PALETTE[i % len(PALETTE)] for i in range(len(series))]
    assert {s.name for s in series} <= set(_texts(root))


def test_a_legend_too_long_for_its_rows_says_how_many_it_leaves_out() -> None:
    series = [_line(f"a-rather-long-case-name-{i:02d}", float(i)) for i in range(40)]
    root = _parse(render(_plot(*series)))
    shown = len(list(root.iter(f"{SVG}rect")))
    assert 0 < shown < 40
    assert f"+{40 - shown} more" in _texts(root)
    assert len(list(root.iter(f"{SVG}circle"))) == 40  # every series is still drawn


def test_a_size_too_small_to_draw_in_is_refused() -> None:
    with pytest.raises(ValueError, match="no room"):
        render(_plot(_line("a", 1.0)), width=100, height=60)
