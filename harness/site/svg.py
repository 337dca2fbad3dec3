"""Line plots as SVG text for the static report (pure: values in, a string out, no I/O).

A measure across upstream's first-parent commits (x: the commit's position, oldest left), a line
per series; a commit without a value leaves a gap, never a zero that would read as a measurement.
The output is a whole <svg> with nothing external (no script, event attribute, foreignObject or
stylesheet): a page can inline it or an <img> load it. Caller text is escaped and only relative
links kept (names and paths come from the store). Same plot, same bytes: the report rewrites only
pages whose content changed."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2", "#7f7f7f")
CHAR_W = 6  # px per character at font-size 10, rounded up from sans-serif's ~5.5 so labels don't collide
LEGEND_ROWS = 3  # past this, "+N more": a point's tooltip still names its series
TOP, RIGHT = 28, 28  # the title row; room for the last x label's right half
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")  # no escape makes these well-formed
_HEAD = (
    '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" version="1.1" '
    'width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="10">'
)


@dataclass(frozen=True, kw_only=True)
class Series:
    name: str  # e.g. a case id: any text, escaped on output
    points: tuple[tuple[int, float | None], ...]  # (x index, value; None: no value there, a gap)
    href: tuple[str, ...] = ()  # a link per point ("": none), e.g. its run page; relative paths only

    def __post_init__(self) -> None:
        if self.href and len(self.href) != len(self.points):
            raise ValueError(f"series {self.name!r}: {len(self.href)} links for {len(self.points)} points")


@dataclass(frozen=True, kw_only=True)
class Plot:
    title: str
    unit: str
    series: tuple[Series, ...]
    x_labels: tuple[str, ...]  # a label per x index (short shas); a few are shown, every point is drawn


@dataclass(frozen=True, kw_only=True)
class _Frame:
    """The plot area in px and the data range it maps."""

    left: int
    right: int
    bottom: int  # the top is TOP
    x_lo: int
    x_hi: int
    y_lo: float
    y_hi: float

    def px(self, x: float) -> str:
        share = (x - self.x_lo) / (self.x_hi - self.x_lo) if self.x_hi > self.x_lo else 0.5
        return fmt(self.left + share * (self.right - self.left), 1)

    def py(self, value: float) -> str:
        return fmt(self.bottom - (value - self.y_lo) / (self.y_hi - self.y_lo) * (self.bottom - TOP), 1)


def fmt(value: float, places: int | None = None) -> str:
    """A number as short, stable text: `places` decimals at most, else about 4 significant digits
    (never 0.30000000000000004 or 1e-05)."""
    if places is None:
        magnitude = math.floor(math.log10(abs(value))) if value else 0
        places = min(6, max(0, 3 - magnitude))
    text = f"{value:.{places}f}"
    text = text.rstrip("0").rstrip(".") if "." in text else text
    return "0" if text == "-0" else text


def nice_step(span: float, count: int = 5) -> float:
    """The 1, 2 or 5 x 10^n step nearest to cutting `span` (> 0) into `count` intervals: 3 to 11 ticks."""
    raw = span / count
    power = math.floor(math.log10(raw))
    mantissa = raw / 10.0**power
    return next(m for limit, m in ((1.5, 1), (3, 2), (7, 5), (math.inf, 10)) if mantissa < limit) * 10.0**power


def _places(step: float) -> int:
    return max(0, -math.floor(math.log10(step) + 1e-9))


def nice_ticks(low: float, high: float, count: int = 5) -> tuple[float, ...]:
    """Round ticks from at or below `low` to at or above `high`; a flat range is padded around it."""
    if high <= low:
        pad = abs(low) * 0.1 or 1.0  # the line mid-plot, on a scale of its own size
        low, high = low - pad, high + pad
    step = nice_step(high - low, count)
    first, last = math.floor(low / step + 1e-9), math.ceil(high / step - 1e-9)
    return tuple(round(k * step, _places(step)) for k in range(first, last + 1))


def _text(value: str) -> str:
    return escape(_NOT_XML.sub("", value))


def safe_href(href: str) -> str:
    """`href` when it is a relative path, else "": a scheme (javascript:), "//host" or "/path" could
    leave the report or run code, and browsers reread backslashes as "/" and drop tabs and newlines."""
    head = re.split(r"[/?#]", href, maxsplit=1)[0]
    if not href or ":" in head or href.startswith("/") or re.search(r"[\\\s\x7f]", href) or _NOT_XML.search(href):
        return ""
    return href


def render(plot: Plot, *, width: int = 640, height: int = 220) -> str:
    """The plot as a whole <svg> element; a small one saying "no data" when no series has a value."""
    values = [v for s in plot.series for _, v in s.points if v is not None and math.isfinite(v)]
    title = f"{plot.title} ({plot.unit})" if plot.unit else plot.title
    bold = '<text x="8" y="16" font-size="13" font-weight="bold">'
    if not values:
        return f"{_HEAD.format(w=width, h=44)}<title>{_text(title)}</title>{bold}{_text(title)}</text>" + (
            '<text x="8" y="36" font-size="12" fill="#666">no data</text></svg>'
        )
    ticks = nice_ticks(min(values), max(values))
    labels = [fmt(t, _places(ticks[1] - ticks[0])) for t in ticks]
    placed, hidden = _legend_layout(plot.series, width)
    xs = [x for s in plot.series for x, _ in s.points]
    frame = _Frame(
        left=16 + CHAR_W * max(4, *map(len, labels)),  # at least half an x label: the first is centred on it
        right=width - RIGHT,
        bottom=height - 23 - 14 * (1 + placed[-1][1]),
        x_lo=min(0, *xs),
        x_hi=max(len(plot.x_labels) - 1, *xs),
        y_lo=ticks[0],
        y_hi=ticks[-1],
    )
    if frame.bottom - TOP < 40 or frame.right - frame.left < 80:
        raise ValueError(f"plot {plot.title!r}: {width}x{height} px leaves no room to draw in")
    unit = f" {plot.unit}" if plot.unit else ""
    extremes = f"min {fmt(min(values))}{unit}, max {fmt(max(values))}{unit}"
    parts = [
        f"{_HEAD.format(w=width, h=height)}<title>{_text(title)}</title>{bold}{_text(title)}</text>",
        f'<text x="{width - RIGHT}" y="16" text-anchor="end" fill="#555">{_text(extremes)}</text>',
        *_axes(plot, frame, ticks, labels),
    ]
    for index, series in enumerate(plot.series):
        parts += _series(plot, series, PALETTE[index % len(PALETTE)], frame)
    parts += _legend(placed, hidden, frame.bottom + 32, width)
    return "".join(parts) + "</svg>"


def _axes(plot: Plot, frame: _Frame, ticks: tuple[float, ...], labels: list[str]) -> list[str]:
    """Grid lines at the y ticks with their labels; a few x labels, spread evenly, first and last included."""
    out = []
    for tick, label in zip(ticks, labels, strict=True):
        row = frame.py(tick)
        out.append(f'<line x1="{frame.left}" y1="{row}" x2="{frame.right}" y2="{row}" stroke="#e6e6e6"/>')
        out.append(f'<text x="{frame.left - 5}" y="{row}" dy="3" text-anchor="end" fill="#555">{label}</text>')
    count = frame.x_hi - frame.x_lo + 1
    widest = max((len(label) for label in plot.x_labels), default=7)
    room = max(2, (frame.right - frame.left) // (CHAR_W * (widest + 3)))
    shown = range(count) if count <= room else sorted({round(i * (count - 1) / (room - 1)) for i in range(room)})
    for x in (frame.x_lo + i for i in shown):
        cx, y = frame.px(x), frame.bottom
        out.append(f'<line x1="{cx}" y1="{y}" x2="{cx}" y2="{y + 4}" stroke="#999"/>')
        out.append(f'<text x="{cx}" y="{y + 14}" text-anchor="middle">{_text(_x_label(plot, x))}</text>')
    return out


def _x_label(plot: Plot, x: int) -> str:
    return plot.x_labels[x] if 0 <= x < len(plot.x_labels) else str(x)


def _series(plot: Plot, series: Series, colour: str, frame: _Frame) -> list[str]:
    """One path whose subpaths break where a value is missing, then a dot per value with a native
    tooltip ("sha: value unit") and its link when it has a safe one."""
    hrefs = series.href or ("",) * len(series.points)
    kept = sorted(
        ((x, v, h) for (x, v), h in zip(series.points, hrefs, strict=True) if v is not None and math.isfinite(v)),
        key=lambda p: p[0],
    )
    runs: list[list[str]] = []
    for i, (x, value, _) in enumerate(kept):
        if i == 0 or x != kept[i - 1][0] + 1:  # a None, a non-finite value or an absent index between
            runs.append([])
        runs[-1].append(f"{frame.px(x)} {frame.py(value)}")
    path = " ".join("M" + " L".join(run) for run in runs if len(run) > 1)
    out = [f'<path d="{path}" fill="none" stroke="{colour}" stroke-width="1.5"/>'] if path else []
    spacing = (frame.right - frame.left) / max(1, frame.x_hi - frame.x_lo)
    radius = fmt(min(2.5, max(1.2, spacing / 2.5)), 1)  # 300 commits: dots that don't bury the line
    for x, value, href in kept:
        tip = _text(f"{series.name}\n{_x_label(plot, x)}: {fmt(value)} {plot.unit}".rstrip())
        dot = f'<circle cx="{frame.px(x)}" cy="{frame.py(value)}" r="{radius}" fill="{colour}">'
        dot += f"<title>{tip}</title></circle>"
        link = safe_href(href)
        out.append(f"<a xlink:href={quoteattr(link)}>{dot}</a>" if link else dot)
    return out


def _legend_layout(series: tuple[Series, ...], width: int) -> tuple[list[tuple[int, int, int, str]], int]:
    """(x, row, series index, name shown) per legend entry that fits in LEGEND_ROWS rows; how many don't."""
    placed: list[tuple[int, int, int, str]] = []
    x, row = 8, 0
    for index, s in enumerate(series):
        name = s.name if len(s.name) <= 32 else s.name[:31] + "\u2026"
        step = 20 + CHAR_W * len(name)
        limit = width - 8 - (70 if row == LEGEND_ROWS - 1 else 0)  # the last row keeps room for "+N more"
        if x + step > limit and x > 8:
            x, row = 8, row + 1
        if row == LEGEND_ROWS:
            return placed, len(series) - index
        placed.append((x, row, index, name))
        x += step
    return placed, 0


def _legend(placed: list[tuple[int, int, int, str]], hidden: int, top: int, width: int) -> list[str]:
    out = []
    for x, row, index, name in placed:
        y, colour = top + 14 * row, PALETTE[index % len(PALETTE)]
        out.append(f'<rect x="{x}" y="{y - 5}" width="12" height="4" fill="{colour}"/>')
        out.append(f'<text x="{x + 16}" y="{y}">{_text(name)}</text>')
    if hidden:
        out.append(f'<text x="{width - 8}" y="{top + 14 * placed[-1][1]}" text-anchor="end">+{hidden} more</text>')
    return out
