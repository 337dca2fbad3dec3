"""The report's plots (harness/site/svg.py): well-formed SVG, text escaped, gaps kept as gaps,
only relative links, round ticks, the same bytes for the same input."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from harness.site.svg import Plot, Series, fmt, nice_ticks, render

NS = "{http://www.w3.org/2000/svg}"
HOSTILE = '<script>alert(1)</script> "quoted" & co'


def plot(*series: Series, labels: int = 5) -> Plot:
    return Plot(title="generation time", unit="s", series=series, x_labels=tuple(f"c{i}" for i in range(labels)))


def test_names_are_escaped_text_and_no_script_or_foreign_element_exists() -> None:
    root = ET.fromstring(render(plot(Series(name=HOSTILE, points=((0, 1.0), (1, 2.0))))))
    assert root.tag == f"{NS}svg"
    tags = {e.tag.removeprefix(NS) for e in root.iter()}
    assert "script" not in tags and "foreignObject" not in tags
    assert HOSTILE in [e.text for e in root.iter(f"{NS}text")]  # the legend shows it as it is, as text


def test_a_missing_value_breaks_the_line_and_is_never_drawn_as_zero() -> None:
    points = ((0, 1.0), (1, 2.0), (2, None), (3, 3.0), (4, 4.0))
    root = ET.fromstring(render(plot(Series(name="a", points=points))))
    lines = root.findall(f"{NS}polyline")
    assert len(lines) == 2 and [len(x.attrib["points"].split()) for x in lines] == [2, 2]
    assert len(root.findall(f"{NS}circle")) == 4


def test_only_relative_links_are_kept() -> None:
    hrefs = ("runs/r1/index.html", "javascript:alert(1)", "//evil.example/x", "/etc/passwd")
    series = Series(name="a", points=tuple((i, float(i)) for i in range(4)), href=hrefs)
    root = ET.fromstring(render(plot(series, labels=4)))
    assert [a.attrib["href"] for a in root.iter(f"{NS}a")] == ["runs/r1/index.html"]


def test_an_empty_plot_says_no_data_and_one_value_still_renders() -> None:
    empty = ET.fromstring(render(plot(Series(name="a", points=((0, None),)))))
    assert "no data" in [e.text for e in empty.iter(f"{NS}text")]
    one = ET.fromstring(render(plot(Series(name="a", points=((2, 5.0),)))))
    assert len(one.findall(f"{NS}circle")) == 1 and not one.findall(f"{NS}polyline")


def test_ticks_are_round_and_cover_the_range_and_labels_read_apart() -> None:
    assert nice_ticks(0.0, 0.9) == [0.0, 0.5, 1.0]
    assert nice_ticks(3.0, 97.0) == [0.0, 50.0, 100.0] and nice_ticks(3.0, 57.0) == [0.0, 20.0, 40.0, 60.0]
    assert nice_ticks(5.0, 5.0)[0] <= 4.0 and nice_ticks(5.0, 5.0)[-1] >= 6.0  # a flat range is padded
    close = nice_ticks(1226.1, 1226.4)
    assert len({fmt(t, close[1] - close[0]) for t in close}) == len(close)
    assert fmt(0.1 + 0.2) == "0.3" and fmt(-2.5) == "-2.5"


def test_three_hundred_commits_keep_every_point_and_a_few_labels() -> None:
    series = Series(name="a", points=tuple((i, float(i % 7)) for i in range(300)))
    text = render(plot(series, labels=300))
    root = ET.fromstring(text)
    assert len(root.findall(f"{NS}circle")) == 300
    assert len([e for e in root.iter(f"{NS}text") if (e.text or "").startswith("c")]) <= 8
    assert text == render(plot(series, labels=300))  # deterministic: the page is not rewritten


def test_an_infinite_psnr_identical_videos_is_a_gap_not_a_crash() -> None:
    points = ((0, 30.0), (1, float("inf")), (2, 31.0), (3, float("nan")))
    root = ET.fromstring(render(plot(Series(name="a", points=points))))
    assert len(root.findall(f"{NS}circle")) == 2
