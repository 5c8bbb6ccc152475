"""Small server-side SVG charts (no JavaScript, nothing fetched from the network): stacked bars over time."""

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
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
             f'aria-label="{escape(title)}">',
             f'<text x="{left}" y="18" font-size="14" font-weight="600">{escape(title)}</text>']
    for step in range(5):  # grid and y labels
        value = peak * step / 4
        y = top + plot_h - plot_h * step / 4
        parts.append(f'<line x1="{left}" x2="{width - 12}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e5e7eb"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="10" text-anchor="end">{unit}{_fmt(value)}</text>')
    for i, bucket in enumerate(buckets):
        y = top + plot_h
        for k, (name, values) in enumerate(series.items()):
            h = plot_h * values[i] / peak
            if h <= 0:
                continue
            y -= h
            parts.append(f'<rect x="{left + i * bar_w + 1:.1f}" y="{y:.1f}" width="{max(bar_w - 2, 1):.1f}" '
                         f'height="{h:.1f}" fill="{PALETTE[k % len(PALETTE)]}"><title>{escape(name)} {escape(bucket)}: '
                         f'{unit}{_fmt(values[i])}</title></rect>')
    label_every = max(1, len(buckets) // 8)
    for i, bucket in enumerate(buckets):
        if i % label_every == 0:
            x = left + i * bar_w + bar_w / 2
            parts.append(f'<text x="{x:.1f}" y="{height - 18}" font-size="10" text-anchor="middle">'
                         f'{escape(bucket[-5:])}</text>')
    x = left
    for k, name in enumerate(series):
        parts.append(f'<rect x="{x}" y="{height - 10}" width="10" height="10" fill="{PALETTE[k % len(PALETTE)]}"/>')
        parts.append(f'<text x="{x + 14}" y="{height - 1}" font-size="10">{escape(name)}</text>')
        x += 24 + 7 * len(name)
    if not buckets:
        parts.append(f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle" fill="#6b7280">no requests yet</text>')
    parts.append("</svg>")
    return "".join(parts)


def _fmt(value: float) -> str:
    if value == 0:
        return "0"
    if value >= 1000:
        return f"{value / 1000:.1f}k"
    if value >= 10:
        return f"{value:.0f}"
    if value >= 0.01:
        return f"{value:.2f}"
    return f"{value:.6f}".rstrip("0")
