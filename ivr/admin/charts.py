"""Small server-side SVG charts for the dashboard: no chart library, no CDN, readable without JavaScript.

Each function returns safe markup (``markupsafe.Markup``); every label is escaped on the way in.
"""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

WIDTH = 640
HEIGHT = 180
PAD_LEFT = 36
PAD_BOTTOM = 22
PAD_TOP = 10


def _frame(body: str, title: str, height: int = HEIGHT) -> Markup:
    return Markup(
        f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{escape(title)}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>{body}</svg>'
    )


def _axis(top: float, label_top: str) -> str:
    base = HEIGHT - PAD_BOTTOM
    return (
        f'<line x1="{PAD_LEFT}" y1="{base}" x2="{WIDTH}" y2="{base}" class="axis"/>'
        f'<line x1="{PAD_LEFT}" y1="{PAD_TOP}" x2="{PAD_LEFT}" y2="{base}" class="axis"/>'
        f'<text x="{PAD_LEFT - 4}" y="{PAD_TOP + 8}" text-anchor="end" class="tick">{escape(label_top)}</text>'
        f'<text x="{PAD_LEFT - 4}" y="{base}" text-anchor="end" class="tick">0</text>'
    )


def _x_labels(labels: Sequence[str], step: float, every: int) -> str:
    base = HEIGHT - PAD_BOTTOM
    out = []
    for i, label in enumerate(labels):
        if (len(labels) - 1 - i) % every == 0:  # the newest (rightmost) label is always shown
            x = PAD_LEFT + step * (i + 0.5)
            out.append(f'<text x="{x:.1f}" y="{base + 15}" text-anchor="middle" class="tick">{escape(label)}</text>')
    return "".join(out)


def bar_chart(labels: Sequence[str], values: Sequence[float], title: str, unit: str = "") -> Markup:
    """Vertical bars, one per label (e.g. calls per hour)."""
    top = max([*values, 1.0])
    plot_h = HEIGHT - PAD_BOTTOM - PAD_TOP
    step = (WIDTH - PAD_LEFT) / max(len(values), 1)
    bars = []
    for i, value in enumerate(values):
        h = plot_h * value / top
        x = PAD_LEFT + step * i + step * 0.15
        y = HEIGHT - PAD_BOTTOM - h
        bars.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{step * 0.7:.1f}" height="{h:.1f}" class="bar">'
            f"<title>{escape(labels[i])}: {value:g}{escape(unit)}</title></rect>"
        )
    every = max(1, len(labels) // 12)
    return _frame(_axis(top, f"{top:g}") + "".join(bars) + _x_labels(labels, step, every), title)


def line_chart(
    labels: Sequence[str], series: Sequence[tuple[str, Sequence[float | None]]], title: str, top: float = 1.0
) -> Markup:
    """Lines over the same x labels; None leaves a gap (an hour without data is not a zero)."""
    plot_h = HEIGHT - PAD_BOTTOM - PAD_TOP
    step = (WIDTH - PAD_LEFT) / max(len(labels), 1)
    body = [_axis(top, f"{top:g}")]
    for index, (name, values) in enumerate(series):
        points: list[str] = []
        segments: list[list[str]] = [points]
        for i, value in enumerate(values):
            if value is None:
                points = []
                segments.append(points)
                continue
            x = PAD_LEFT + step * (i + 0.5)
            y = HEIGHT - PAD_BOTTOM - plot_h * min(value, top) / top
            points.append(f"{x:.1f},{y:.1f}")
            body.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" class="s{index}">'
                f"<title>{escape(name)} {escape(labels[i])}: {value:.2f}</title></circle>"
            )
        for segment in segments:
            if len(segment) > 1:
                body.append(f'<polyline points="{" ".join(segment)}" class="line s{index}"/>')
        body.append(
            f'<text x="{PAD_LEFT + 6}" y="{PAD_TOP + 10 + 12 * index}" class="legend s{index}">{escape(name)}</text>'
        )
    body.append(_x_labels(labels, step, max(1, len(labels) // 12)))
    return _frame("".join(body), title)


def hbar_chart(items: Sequence[tuple[str, int]], title: str) -> Markup:
    """Horizontal bars with their labels (e.g. transfers by reason)."""
    if not items:
        return _frame('<text x="10" y="24" class="tick">no data yet</text>', title, height=40)
    row = 24
    height = row * len(items) + 8
    top = max(v for _, v in items)
    label_w = 200
    body = []
    for i, (label, value) in enumerate(items):
        y = 4 + row * i
        w = (WIDTH - label_w - 40) * value / top
        body.append(
            f'<text x="{label_w - 6}" y="{y + 15}" text-anchor="end" class="tick">{escape(label)}</text>'
            f'<rect x="{label_w}" y="{y + 3}" width="{w:.1f}" height="{row - 8}" class="bar"/>'
            f'<text x="{label_w + w + 4:.1f}" y="{y + 15}" class="tick">{value}</text>'
        )
    return _frame("".join(body), title, height=height)
