"""Small server-side SVG charts for the dashboard: no chart library, no CDN, readable without JavaScript.

Each function returns safe markup (``markupsafe.Markup``); every label is escaped on the way in.
"""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

WIDTH = 640
HEIGHT = 190
PAD_LEFT = 44
PAD_RIGHT = 28  # the newest x label sits at the right edge: room for half of it
PAD_BOTTOM = 34
PAD_TOP = 12
PLOT_W = WIDTH - PAD_LEFT - PAD_RIGHT
Y_TICKS = 4
MAX_LABEL_CHARS = 30


def _frame(body: str, title: str, height: int = HEIGHT) -> Markup:
    return Markup(
        f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{escape(title)}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>{body}</svg>'
    )


def _tick(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".") if value % 1 else f"{value:.0f}"


def _axis(top: float, x_title: str, y_title: str) -> str:
    """Both axes, a labelled y tick with a grid line at every quarter, and the axes' titles."""
    base = HEIGHT - PAD_BOTTOM
    plot_h = base - PAD_TOP
    parts = [
        f'<line x1="{PAD_LEFT}" y1="{base}" x2="{WIDTH - PAD_RIGHT}" y2="{base}" class="axis"/>',
        f'<line x1="{PAD_LEFT}" y1="{PAD_TOP}" x2="{PAD_LEFT}" y2="{base}" class="axis"/>',
    ]
    for k in range(Y_TICKS + 1):
        value = top * k / Y_TICKS
        y = base - plot_h * k / Y_TICKS
        if k:
            parts.append(f'<line x1="{PAD_LEFT}" y1="{y:.1f}" x2="{WIDTH - PAD_RIGHT}" y2="{y:.1f}" class="grid"/>')
        parts.append(f'<text x="{PAD_LEFT - 5}" y="{y + 4:.1f}" text-anchor="end" class="tick">{_tick(value)}</text>')
    parts.append(
        f'<text x="{PAD_LEFT + PLOT_W / 2:.0f}" y="{HEIGHT - 3}" text-anchor="middle" class="axis-title">'
        f"{escape(x_title)}</text>"
    )
    parts.append(
        f'<text x="11" y="{PAD_TOP + plot_h / 2:.0f}" text-anchor="middle" class="axis-title" '
        f'transform="rotate(-90 11 {PAD_TOP + plot_h / 2:.0f})">{escape(y_title)}</text>'
    )
    return "".join(parts)


def _nice_top(value: float) -> float:
    """The y axis' top: the maximum rounded up to a value the quarter ticks divide evenly."""
    if value <= 4:
        return 4.0
    magnitude = 10 ** (len(str(int(value))) - 1)
    for factor in (1, 2, 4, 5, 8, 10):
        if factor * magnitude >= value and (factor * magnitude) % Y_TICKS == 0:
            return float(factor * magnitude)
    return float(-(-value // Y_TICKS) * Y_TICKS)


def _x_labels(labels: Sequence[str], step: float, every: int) -> str:
    base = HEIGHT - PAD_BOTTOM
    out = []
    for i, label in enumerate(labels):
        if (len(labels) - 1 - i) % every == 0:  # the newest (rightmost) label is always shown
            x = PAD_LEFT + step * (i + 0.5)
            out.append(
                f'<line x1="{x:.1f}" y1="{base}" x2="{x:.1f}" y2="{base + 4}" class="axis"/>'
                f'<text x="{x:.1f}" y="{base + 16}" text-anchor="middle" class="tick">{escape(label)}</text>'
            )
    return "".join(out)


def bar_chart(
    labels: Sequence[str], values: Sequence[float], title: str, unit: str = "", x_title: str = "", y_title: str = ""
) -> Markup:
    """Vertical bars, one per label (e.g. calls per hour)."""
    top = _nice_top(max([*values, 1.0]))
    plot_h = HEIGHT - PAD_BOTTOM - PAD_TOP
    step = PLOT_W / max(len(values), 1)
    bars = []
    for i, value in enumerate(values):
        h = plot_h * value / top
        x = PAD_LEFT + step * i + step * 0.15
        y = HEIGHT - PAD_BOTTOM - h
        bars.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{step * 0.7:.1f}" height="{h:.1f}" class="bar">'
            f"<title>{escape(labels[i])}: {value:g}{escape(unit)}</title></rect>"
        )
    every = max(1, len(labels) // 8)
    return _frame(_axis(top, x_title, y_title) + "".join(bars) + _x_labels(labels, step, every), title)


def line_chart(
    labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[float | None]]],
    title: str,
    top: float = 1.0,
    x_title: str = "",
    y_title: str = "",
) -> Markup:
    """Lines over the same x labels; None leaves a gap (an hour without data is not a zero)."""
    plot_h = HEIGHT - PAD_BOTTOM - PAD_TOP
    step = PLOT_W / max(len(labels), 1)
    body = [_axis(top, x_title, y_title)]
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
    body.append(_x_labels(labels, step, max(1, len(labels) // 8)))
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
        shown = label if len(label) <= MAX_LABEL_CHARS else label[: MAX_LABEL_CHARS - 1] + "…"
        body.append(
            f'<text x="{label_w - 6}" y="{y + 15}" text-anchor="end" class="tick">{escape(shown)}'
            f"<title>{escape(label)}</title></text>"
            f'<rect x="{label_w}" y="{y + 3}" width="{w:.1f}" height="{row - 8}" class="bar">'
            f"<title>{escape(label)}: {value}</title></rect>"
            f'<text x="{label_w + w + 4:.1f}" y="{y + 15}" class="tick">{value}</text>'
        )
    return _frame("".join(body), title, height=height)
