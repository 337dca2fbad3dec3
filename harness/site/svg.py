"""Line plots as SVG text (pure): values across upstream commits, one line per series, a gap
where a commit has no value. No script, no external reference: usable inline in a page or as a
file. Every text from the caller is escaped; only relative links are kept; the same input gives
the same bytes (the report rewrites only pages that changed)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2")
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 28, 40  # margins: y tick labels, title, x labels and legend
MAX_X_LABELS = 8
ToX = Callable[[int], float]  # an x index to its pixel column
ToY = Callable[[float], float]  # a value to its pixel row


@dataclass(frozen=True, kw_only=True)
class Series:
    name: str
    points: tuple[tuple[int, float | None], ...]  # (x index, value; None: a gap)
    href: tuple[str, ...] = ()  # a link per point ("" none): relative paths only


@dataclass(frozen=True, kw_only=True)
class Plot:
    title: str
    unit: str
    series: tuple[Series, ...]
    x_labels: tuple[str, ...]  # a label per x index (short shas): a few are shown


def fmt(value: float, step: float = 0.0) -> str:
    """A number short and stable, no float noise: as many decimals as `step` (a tick spacing)
    needs, else 4 significant digits."""
    if step > 0:
        return f"{value:.{max(0, -math.floor(math.log10(step)))}f}"
    text = f"{value:.4g}"
    return text if "e" not in text else f"{value:.0f}"


def nice_ticks(low: float, high: float, count: int = 4) -> list[float]:
    """Round tick values (1, 2, 5 x 10^n steps) covering [low, high]."""
    if high <= low:
        low, high = low - 1, high + 1  # a flat range: pad it
    raw = (high - low) / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    start = math.floor(low / step) * step
    ticks = []
    value = start
    while value <= high + step * 1e-9:
        ticks.append(round(value, 10))
        value += step
    if ticks[-1] < high:
        ticks.append(round(value, 10))
    return ticks


def _safe_href(href: str) -> str:
    """A relative path, or "" (a scheme, "//host" or a backslash could leave the site)."""
    bad = ":" in href.split("/", 1)[0] or href.startswith(("/", "\\")) or "\\" in href
    return "" if bad or not href else href


def _empty(plot: Plot, width: int) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="60" viewBox="0 0 {width} 60">'
        f'<text x="8" y="20" font-size="13" font-weight="bold">{escape(plot.title)}</text>'
        '<text x="8" y="44" font-size="12" fill="#666">no data</text></svg>'
    )


def _finite(plot: Plot) -> Plot:
    """Values that cannot be drawn (an infinite PSNR: the videos are identical) become gaps."""
    return Plot(
        title=plot.title,
        unit=plot.unit,
        x_labels=plot.x_labels,
        series=tuple(
            Series(
                name=s.name,
                points=tuple((x, v if v is not None and math.isfinite(v) else None) for x, v in s.points),
                href=s.href,
            )
            for s in plot.series
        ),
    )


def render(plot: Plot, *, width: int = 640, height: int = 220) -> str:
    plot = _finite(plot)
    values = [v for s in plot.series for _, v in s.points if v is not None]
    if not values:
        return _empty(plot, width)
    ticks = nice_ticks(min(values), max(values))
    y_low, y_high = ticks[0], ticks[-1]
    n = max(len(plot.x_labels), 1 + max((x for s in plot.series for x, _ in s.points), default=0))
    inner_w, inner_h = width - LEFT - RIGHT, height - TOP - BOTTOM

    def px(x: int) -> float:
        return LEFT + (inner_w * x / (n - 1) if n > 1 else inner_w / 2)

    def py(v: float) -> float:
        return TOP + inner_h * (1 - (v - y_low) / (y_high - y_low))

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        'font-family="sans-serif">',
        f'<text x="{LEFT}" y="16" font-size="13" font-weight="bold">{escape(plot.title)} ({escape(plot.unit)})</text>',
        *_axes(ticks, plot.x_labels, n, px, py, width, height),
    ]
    for index, series in enumerate(plot.series):
        parts += _series(series, PALETTE[index % len(PALETTE)], plot, px, py)
    parts += _legend(plot.series, height)
    return "".join(parts) + "</svg>"


def _axes(ticks: list[float], labels: tuple[str, ...], n: int, px: ToX, py: ToY, width: int, height: int) -> list[str]:
    out = []
    step = ticks[1] - ticks[0]
    for tick in ticks:
        y = f"{py(tick):.1f}"
        out.append(f'<line x1="{LEFT}" y1="{y}" x2="{width - RIGHT}" y2="{y}" stroke="#e5e5e5"/>')
        out.append(f'<text x="{LEFT - 6}" y="{y}" font-size="10" text-anchor="end" dy="3">{fmt(tick, step)}</text>')
    shown = sorted(
        {round(i * (n - 1) / (MAX_X_LABELS - 1)) for i in range(MAX_X_LABELS)} if n > MAX_X_LABELS else range(n)
    )
    for x in shown:
        if x < len(labels):
            out.append(
                f'<text x="{px(x):.1f}" y="{height - BOTTOM + 14}" font-size="10" text-anchor="middle">'
                f"{escape(labels[x])}</text>"
            )
    return out


def _series(series: Series, colour: str, plot: Plot, px: ToX, py: ToY) -> list[str]:
    """A polyline per run of consecutive values (a None breaks it) and a dot per value, with a
    native tooltip "sha: value unit" and the point's link when it has one."""
    out: list[str] = []
    run: list[str] = []
    hrefs = series.href if len(series.href) == len(series.points) else ("",) * len(series.points)
    for (x, value), href in zip(series.points, hrefs, strict=True):
        if value is None:
            out += _line(run, colour)
            run = []
            continue
        run.append(f"{px(x):.1f},{py(value):.1f}")
        label = plot.x_labels[x] if x < len(plot.x_labels) else str(x)
        dot = (
            f'<circle cx="{px(x):.1f}" cy="{py(value):.1f}" r="2.5" fill="{colour}">'
            f"<title>{escape(f'{series.name} @ {label}: {fmt(value)} {plot.unit}')}</title></circle>"
        )
        link = _safe_href(href)
        out.append(f"<a href={quoteattr(link)}>{dot}</a>" if link else dot)
    return out + _line(run, colour)


def _line(points: list[str], colour: str) -> list[str]:
    if len(points) < 2:
        return []
    return [f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{" ".join(points)}"/>']


def _legend(series: tuple[Series, ...], height: int) -> list[str]:
    out: list[str] = []
    x = LEFT
    for index, s in enumerate(series):
        colour = PALETTE[index % len(PALETTE)]
        y = height - 8
        out.append(f'<rect x="{x}" y="{y - 8}" width="10" height="3" fill="{colour}"/>')
        out.append(f'<text x="{x + 14}" y="{y - 4}" font-size="10">{escape(s.name)}</text>')
        x += 24 + 6 * min(len(s.name), 40)
    return out
