"""Charts as inline SVG, from plain data: a student's 12 weeks, a caseload row's trend line.

Pure functions returning markup (``markupsafe.Markup``, every text escaped), so a page needs
no JavaScript or image service and the tests can read the picture's numbers back. Each
chart carries a title and a description in words for screen readers; the page adds the
figures as a table under a disclosure for anyone who wants them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date

from markupsafe import Markup, escape

from leap.explain import band_name
from leap.wording import day_text

# Colours of the bands, light tints behind the line (the line itself carries the meaning;
# colour is never the only cue: the bands are also labelled on the axis).
BAND_TINTS = {"high": "#d9efe2", "good": "#e6f2d9", "partial": "#fbf0cf", "low": "#fbe0cc", "very_low": "#f6d2d2"}


def _bands(bounds: Mapping[str, float]) -> list[tuple[str, float, float]]:
    """(band, low, high) from the policy's lower bounds, highest band first."""
    edges = [("high", bounds["high"], 100.0), ("good", bounds["good"], bounds["high"]), ("partial", bounds["partial"], bounds["good"]),
             ("low", bounds["low"], bounds["partial"]), ("very_low", 0.0, bounds["low"])]  # fmt: skip
    return edges


def history_chart(points: Sequence[tuple[date, float | None]], bounds: Mapping[str, float], *, title: str,
                  width: int = 720, height: int = 240) -> Markup:  # fmt: skip
    """A line of daily scores (0-100) over the band zones; days without a score break the line."""
    left, right, top, bottom = 64, 12, 12, 28
    plot_w, plot_h = width - left - right, height - top - bottom
    n = max(len(points), 2)

    def x(i: int) -> float:
        return left + plot_w * i / (n - 1)

    def y(score: float) -> float:
        return top + plot_h * (1 - max(0.0, min(100.0, score)) / 100)

    parts = [f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-labelledby="chart-title chart-desc" xmlns="http://www.w3.org/2000/svg">',
             f'<title id="chart-title">{escape(title)}</title>', f'<desc id="chart-desc">{escape(describe(points))}</desc>']  # fmt: skip
    for band, low, high in _bands(bounds):
        parts.append(f'<rect x="{left}" y="{y(high):.1f}" width="{plot_w}" height="{y(low) - y(high):.1f}" fill="{BAND_TINTS[band]}"/>')
        parts.append(f'<text class="axis" x="{left - 6}" y="{(y(low) + y(high)) / 2 + 4:.1f}" text-anchor="end">{band_name(band)}</text>')
    segments: list[list[str]] = [[]]
    for i, (_, score) in enumerate(points):
        if score is None:
            segments.append([])
        else:
            segments[-1].append(f"{x(i):.1f},{y(score):.1f}")
    for seg in segments:
        if len(seg) > 1:
            parts.append(f'<polyline class="line" points="{" ".join(seg)}" fill="none" stroke="#1d3557" stroke-width="2.5"/>')
        elif len(seg) == 1:
            cx, cy = seg[0].split(",")
            parts.append(f'<circle cx="{cx}" cy="{cy}" r="3" fill="#1d3557"/>')
    if points:
        last = len(points) - 1
        ticks = sorted({0, last, *(i for i in range(0, last, 14) if last - i >= 7)})  # no label crowding the last
        for i in ticks:
            anchor = "start" if i == 0 else "end" if i == last else "middle"
            parts.append(f'<text class="axis" x="{x(i):.1f}" y="{height - 8}" text-anchor="{anchor}">{escape(points[i][0].strftime("%-d %b"))}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def describe(points: Sequence[tuple[date, float | None]]) -> str:
    """The chart in one or two sentences: first and last scores, lowest and highest."""
    scored = [(d, s) for d, s in points if s is not None]
    if not scored:
        return "No daily scores yet."
    first, last = scored[0], scored[-1]
    low = min(scored, key=lambda p: p[1])
    high = max(scored, key=lambda p: p[1])
    text = f"Daily score from {round(first[1])} on {day_text(first[0])} to {round(last[1])} on {day_text(last[0])}."
    if len(scored) > 2:
        text += f" Lowest {round(low[1])} on {day_text(low[0])}; highest {round(high[1])} on {day_text(high[0])}."
    return text


def sparkline(scores: Sequence[float | None], *, label: str, width: int = 120, height: int = 28) -> Markup:
    """A small trend line of daily scores (oldest first); gaps where a day has no score."""
    n = max(len(scores), 2)
    pts: list[list[str]] = [[]]
    for i, s in enumerate(scores):
        if s is None:
            pts.append([])
        else:
            pts[-1].append(f"{2 + (width - 4) * i / (n - 1):.1f},{2 + (height - 4) * (1 - max(0.0, min(100.0, s)) / 100):.1f}")
    lines = "".join(f'<polyline points="{" ".join(p)}" fill="none" stroke="#1d3557" stroke-width="1.5"/>' for p in pts if len(p) > 1)
    return Markup(
        f'<svg class="spark" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" aria-label="{escape(label)}" '
        f'xmlns="http://www.w3.org/2000/svg"><rect width="{width}" height="{height}" fill="#f4f6f8"/>{lines}</svg>'
    )


def trend_words(scores: Sequence[float | None]) -> str:
    """A trend in words for the sparkline's label: the first and last scored days' change."""
    scored = [s for s in scores if s is not None]
    if len(scored) < 2:
        return "not enough days for a trend"
    change = scored[-1] - scored[0]
    if abs(change) < 5:
        return f"steady around {round(scored[-1])}"
    return f"{'up' if change > 0 else 'down'} from {round(scored[0])} to {round(scored[-1])}"
