"""The dashboard's charts as inline SVG, drawn on the server.

The pages' Content-Security-Policy allows scripts and styles from our own origin only,
so the charts need neither a chart library nor inline styles: colours come from CSS
classes in static/style.css (``series-*``), every shape carries a ``<title>`` (shown on
hover, read by screen readers) and each chart has a table with the same figures.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.web.html import Markup, fragment, join

WIDTH = 720
HEIGHT = 220
MARGIN_LEFT = 44
MARGIN_BOTTOM = 28
MARGIN_TOP = 10


@dataclass(frozen=True)
class Series:
    """One named series of values (one per label), drawn with the CSS class ``series-<css>``."""

    name: str
    css: str
    values: Sequence[float]


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    for step in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10_000, 20_000, 50_000):
        if value <= step:
            return float(step)
    return float(value)


def _legend(series: Sequence[Series]) -> Markup:
    return fragment(
        '<ul class="legend">$items</ul>',
        items=join(
            fragment('<li><svg width="12" height="12" aria-hidden="true"><rect class="series-$c" width="12" '
                     'height="12"/></svg> $n</li>', c=s.css, n=s.name)
            for s in series
        ),
    )


def _axis(top: float, unit: str, plot_height: float) -> Markup:
    lines = []
    for share in (0, 0.5, 1):
        y = MARGIN_TOP + plot_height * (1 - share)
        value = top * share
        label = f"{value:.0%}" if unit == "%" else f"{value:g}"
        lines.append(fragment(
            '<line class="grid" x1="$x1" x2="$x2" y1="$y" y2="$y"/>'
            '<text class="tick" x="$tx" y="$ty" text-anchor="end">$label</text>',
            x1=MARGIN_LEFT, x2=WIDTH, y=f"{y:.1f}", tx=MARGIN_LEFT - 6, ty=f"{y + 4:.1f}", label=label,
        ))
    return join(lines, "")


def _x_labels(labels: Sequence[str], step: float, plot_height: float) -> Markup:
    every = max(1, len(labels) // 8)
    return join(
        (
            fragment('<text class="tick" x="$x" y="$y" text-anchor="middle">$t</text>',
                     x=f"{MARGIN_LEFT + step * (i + 0.5):.1f}", y=f"{MARGIN_TOP + plot_height + 18:.1f}", t=label)
            for i, label in enumerate(labels)
            if i % every == 0
        ),
        "",
    )


def stacked_bars(title: str, labels: Sequence[str], series: Sequence[Series]) -> Markup:
    """Bars per label (a day), each stacked from ``series``."""
    plot_height = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM
    totals = [sum(s.values[i] for s in series) for i in range(len(labels))]
    top = _nice_max(max(totals, default=0))
    step = (WIDTH - MARGIN_LEFT) / max(len(labels), 1)
    bars = []
    for i, label in enumerate(labels):
        base = 0.0
        for s in series:
            value = s.values[i]
            if value <= 0:
                continue
            height = plot_height * value / top
            y = MARGIN_TOP + plot_height * (1 - (base + value) / top)
            bars.append(fragment(
                '<rect class="series-$c" x="$x" y="$y" width="$w" height="$h"><title>$t</title></rect>',
                c=s.css, x=f"{MARGIN_LEFT + step * i + step * 0.15:.1f}", y=f"{y:.1f}",
                w=f"{step * 0.7:.1f}", h=f"{height:.1f}", t=f"{label}: {s.name} {value:g}",
            ))
            base += value
    body = join([_axis(top, "", plot_height), *bars, _x_labels(labels, step, plot_height)], "")
    return _figure(title, series, body)


def lines(title: str, labels: Sequence[str], series: Sequence[Series]) -> Markup:
    """Rates (0 to 1) per label as lines with points."""
    plot_height = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM
    top = min(1.0, max(0.1, max((v for s in series for v in s.values), default=0) * 1.2))
    step = (WIDTH - MARGIN_LEFT) / max(len(labels), 1)
    shapes = []
    for s in series:
        points = [
            (MARGIN_LEFT + step * (i + 0.5), MARGIN_TOP + plot_height * (1 - min(v, top) / top))
            for i, v in enumerate(s.values)
        ]
        if not points:
            continue
        shapes.append(fragment('<polyline class="line series-$c" points="$p"/>', c=s.css,
                               p=" ".join(f"{x:.1f},{y:.1f}" for x, y in points)))
        shapes.extend(
            fragment('<circle class="series-$c" cx="$x" cy="$y" r="3"><title>$t</title></circle>',
                     c=s.css, x=f"{x:.1f}", y=f"{y:.1f}", t=f"{labels[i]}: {s.name} {s.values[i]:.1%}")
            for i, (x, y) in enumerate(points)
        )
    body = join([_axis(top, "%", plot_height), *shapes, _x_labels(labels, step, plot_height)], "")
    return _figure(title, series, body)


def horizontal_bars(title: str, items: Sequence[tuple[str, float]], css: str = "answer") -> Markup:
    """One bar per item (label, value), longest first as given."""
    row = 22
    label_width = 300
    height = max(row * len(items), row)
    top = _nice_max(max((v for _, v in items), default=0))
    bars = []
    for i, (label, value) in enumerate(items):
        width = (WIDTH - label_width - 50) * value / top
        short = label if len(label) <= 48 else label[:47] + "…"
        bars.append(fragment(
            '<text class="tick" x="$lx" y="$ty" text-anchor="end">$short</text>'
            '<rect class="series-$c" x="$x" y="$y" width="$w" height="16"><title>$t</title></rect>'
            '<text class="tick" x="$vx" y="$ty">$v</text>',
            lx=label_width - 6, ty=f"{i * row + 13}", short=short, c=css, x=label_width, y=f"{i * row + 2}",
            w=f"{width:.1f}", t=f"{label}: {value:g}", vx=f"{label_width + width + 4:.1f}", v=f"{value:g}",
        ))
    return fragment(
        '<figure class="chart"><figcaption>$title</figcaption>'
        '<svg viewBox="0 0 $w $h" role="img" aria-label="$title" class="chart-svg">$bars</svg></figure>',
        title=title, w=WIDTH, h=height, bars=join(bars, ""),
    )


def _figure(title: str, series: Sequence[Series], body: Markup) -> Markup:
    return fragment(
        '<figure class="chart"><figcaption>$title</figcaption>'
        '<svg viewBox="0 0 $w $h" role="img" aria-label="$title" class="chart-svg">$body</svg>$legend</figure>',
        title=title, w=WIDTH, h=HEIGHT, body=body, legend=_legend(series),
    )
