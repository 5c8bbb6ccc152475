"""Small server-side SVG charts (no JavaScript, nothing fetched from the network): stacked bars and lines over
time. Every text drawn is escaped here, so pages may embed the SVG as it is."""

from __future__ import annotations

from html import escape

PALETTE = ["#3b82f6", "#f59e0b", "#10b981", "#ef4444", "#8b5cf6", "#ec4899", "#14b8a6", "#84cc16", "#64748b"]


def stacked_bars(title: str, buckets: list[str], series: dict[str, list[float]], unit: str = "",
                 width: int = 760, height: int = 220) -> str:
    """`series[name][i]` is the value of `name` in bucket i; bars stack the series."""
    left, bottom, top = 76, 36, 28
    plot_w, plot_h = width - left - 12, height - bottom - top
    totals = [sum(values[i] for values in series.values()) for i in range(len(buckets))] or [0]
    peak = max(totals) or 1
    bar_w = plot_w / max(len(buckets), 1)
    parts = _frame(title, width, height, left, top, plot_w, plot_h, peak, unit)
    for i, bucket in enumerate(buckets):
        y: float = top + plot_h
        for k, (name, values) in enumerate(series.items()):
            h = plot_h * values[i] / peak
            if h <= 0:
                continue
            y -= h
            parts.append(f'<rect x="{left + i * bar_w + 1:.1f}" y="{y:.1f}" width="{max(bar_w - 2, 1):.1f}" '
                         f'height="{h:.1f}" fill="{PALETTE[k % len(PALETTE)]}"><title>{escape(name)} {escape(bucket)}: '
                         f'{unit}{_fmt(values[i])}</title></rect>')
    _axis_and_legend(parts, buckets, list(series), left, bar_w, width, height, empty=not any(totals))
    return "".join(parts)


def lines(title: str, buckets: list[str], series: dict[str, list[float | None]], unit: str = "",
          width: int = 760, height: int = 220) -> str:
    """One line per series; None is a gap (no requests in that bucket)."""
    left, bottom, top = 76, 36, 28
    plot_w, plot_h = width - left - 12, height - bottom - top
    values = [v for vs in series.values() for v in vs if v is not None]
    peak = max(values, default=0) or 1
    step = plot_w / max(len(buckets), 1)
    parts = _frame(title, width, height, left, top, plot_w, plot_h, peak, unit)
    for k, (name, points) in enumerate(series.items()):
        color = PALETTE[k % len(PALETTE)]
        path, pen_down = [], False
        for i, v in enumerate(points):
            if v is None:
                pen_down = False
                continue
            x, y = left + i * step + step / 2, top + plot_h - plot_h * v / peak
            path.append(f"{'L' if pen_down else 'M'}{x:.1f} {y:.1f}")
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2" fill="{color}"><title>{escape(name)} '
                         f'{escape(buckets[i])}: {_fmt(v)}{escape(unit)}</title></circle>')
            pen_down = True
        if path:
            parts.append(f'<path d="{" ".join(path)}" fill="none" stroke="{color}" stroke-width="1.5"/>')
    _axis_and_legend(parts, buckets, list(series), left, step, width, height, empty=not values)
    return "".join(parts)


def _frame(title: str, width: int, height: int, left: int, top: int, plot_w: float, plot_h: float, peak: float,
           unit: str) -> list[str]:
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">',
             f'<text x="{left}" y="18" font-size="14" font-weight="600" fill="#111827">{escape(title)}</text>']
    for step in range(5):  # grid and y labels
        value = peak * step / 4
        y = top + plot_h - plot_h * step / 4
        parts.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e5e7eb"/>')
        label = f"{unit}{_fmt(value)}" if unit == "$" else f"{_fmt(value)}{escape(unit)}"
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="10" text-anchor="end" fill="#374151">'
                     f'{label}</text>')
    return parts


def _axis_and_legend(parts: list[str], buckets: list[str], names: list[str], left: int, step: float, width: int,
                     height: int, empty: bool) -> None:
    label_every = max(1, len(buckets) // 8)
    for i, bucket in enumerate(buckets):
        if i % label_every == 0:
            x = left + i * step + step / 2
            parts.append(f'<text x="{x:.1f}" y="{height - 18}" font-size="10" text-anchor="middle" fill="#374151">'
                         f'{escape(_short(bucket))}</text>')
    x = left
    for k, name in enumerate(names):
        parts.append(f'<rect x="{x}" y="{height - 10}" width="10" height="10" fill="{PALETTE[k % len(PALETTE)]}"/>')
        parts.append(f'<text x="{x + 14}" y="{height - 1}" font-size="10" fill="#111827">{escape(name)}</text>')
        x += 24 + 7 * len(name)
    if empty:
        parts.append(f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle" fill="#4b5563">'
                     'no requests in this window</text>')
    parts.append("</svg>")


def _short(bucket: str) -> str:
    """'2026-12-03T18:41' -> '18:41', '2026-12-03T18' -> '03 18h', '2026-12-03' -> '12-03'."""
    if len(bucket) == 16:
        return bucket[11:]
    if len(bucket) == 13:
        return f"{bucket[8:10]} {bucket[11:]}h"
    return bucket[5:]


def _fmt(value: float) -> str:
    if value == 0:
        return "0"
    if value >= 1000:
        return f"{value / 1000:.1f}k"
    if value >= 10 or float(value).is_integer():
        return f"{value:.0f}"
    if value >= 0.01:
        return f"{value:.2f}"
    return f"{value:.6f}".rstrip("0")
