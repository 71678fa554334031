"""A dependency-free SVG line chart of one-minute aggregates (avg line over a min-max band)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any
from xml.sax.saxutils import escape, quoteattr

WIDTH, HEIGHT = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 12, 28


def _hhmm(ms: float) -> str:
    return time.strftime("%H:%M", time.gmtime(ms / 1000))


def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    step = (high - low) / (count - 1)
    return [low + i * step for i in range(count)]


def series_svg(points: Sequence[dict[str, Any]], title: str) -> str:
    """Render aggregates as a standalone SVG document; every text node is XML-escaped."""
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
            f'width="{WIDTH}" height="{HEIGHT}" role="img" aria-label={quoteattr(title)}>'
            f"<title>{escape(title)}</title>"
            '<rect width="100%" height="100%" fill="#ffffff"/>')
    usable = [p for p in points if all(isinstance(p.get(k), (int, float))
                                       for k in ("window_start", "min", "avg", "max"))]
    if not usable:
        return (head + f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle" '
                'fill="#666" font-family="sans-serif" font-size="14">'
                "no one-minute aggregates in this period</text></svg>")
    t0 = min(p["window_start"] for p in usable)
    t1 = max(p["window_start"] for p in usable)
    lo = min(p["min"] for p in usable)
    hi = max(p["max"] for p in usable)
    pad = max((hi - lo) * 0.1, 0.5)
    lo, hi = lo - pad, hi + pad
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(t: float) -> float:
        return float(LEFT + (plot_w * (t - t0) / (t1 - t0) if t1 > t0 else plot_w / 2))

    def y(v: float) -> float:
        return float(TOP + plot_h * (hi - v) / (hi - lo))

    parts = [head]
    for v in _ticks(lo, hi):
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(v):.1f}" y2="{y(v):.1f}" '
                     'stroke="#e5e7eb"/>'
                     f'<text x="{LEFT - 6}" y="{y(v) + 4:.1f}" text-anchor="end" '
                     f'font-family="sans-serif" font-size="11" fill="#555">{v:.1f}</text>')
    ticks = _ticks(t0, t1) if t1 > t0 else [t0]
    for i, t in enumerate(ticks):
        # The outermost labels align inwards so they are not cut off at the edges.
        anchor = "end" if i == len(ticks) - 1 and len(ticks) > 1 else "middle"
        parts.append(f'<text x="{x(t):.1f}" y="{HEIGHT - 8}" text-anchor="{anchor}" '
                     f'font-family="sans-serif" font-size="11" fill="#555">{_hhmm(t)}</text>')
    band = [f"{x(p['window_start']):.1f},{y(p['max']):.1f}" for p in usable]
    band += [f"{x(p['window_start']):.1f},{y(p['min']):.1f}" for p in reversed(usable)]
    parts.append(f'<polygon points="{" ".join(band)}" fill="#bfdbfe" fill-opacity="0.6"/>')
    line = " ".join(f"{x(p['window_start']):.1f},{y(p['avg']):.1f}" for p in usable)
    parts.append(f'<polyline points="{line}" fill="none" stroke="#1d4ed8" stroke-width="2"/>')
    if len(usable) == 1:
        p = usable[0]
        parts.append(f'<circle cx="{x(p["window_start"]):.1f}" cy="{y(p["avg"]):.1f}" r="3" '
                     'fill="#1d4ed8"/>')
    parts.append(f'<text x="{WIDTH - RIGHT}" y="{TOP + 10}" text-anchor="end" '
                 'font-family="sans-serif" font-size="11" fill="#1d4ed8">'
                 "avg °C (band: min–max per minute, UTC)</text></svg>")
    return "".join(parts)
