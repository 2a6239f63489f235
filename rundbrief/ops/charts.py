"""Small server-side SVG charts for the admin dashboard: no JavaScript, no CDN, readable as-is.

Every label is escaped; the SVG carries a <title> per point, so hovering shows the value
in any browser and a screen reader reads the chart's summary. Numbers are written in the active
language's format (German "90.000" and "0,1 %", English "90,000" and "0.1%"), see count() and percent().
"""

import math

from django.utils.formats import number_format
from django.utils.html import escape
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _

WIDTH, HEIGHT = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 56, 24, 16, 36
COLOURS = ["#2b6cb0", "#c05621", "#718096", "#2f855a", "#9b2c2c", "#6b46c1"]
# Threshold lines: amber where a rate earns a warning, red where it stops a campaign.
WARN_COLOUR, STOP_COLOUR = "#b7791f", "#c53030"


def count(value, decimals=0):
    """A count with the active language's grouping: German 90.000, English 90,000."""
    return number_format(value, decimal_pos=decimals, force_grouping=True)


def percent(rate, decimals=None):
    """A fraction as a percentage in the active language: German 0,1 % (DIN 5008: a space before %),
    English 0.1%. Without `decimals`, up to two places and no trailing zeros."""
    if rate == 0:
        number = "0"
    elif decimals is None:
        number = number_format(round(rate * 100, 2), decimal_pos=2, force_grouping=True)
        separator = number_format(0.5, decimal_pos=1)[1]
        number = number.rstrip("0").rstrip(separator) if separator in number else number
    else:
        number = number_format(rate * 100, decimal_pos=decimals, force_grouping=True)
    return _("%(number)s%%") % {"number": number}


percent.scale = 100  # the axis labels of a percentage chart need the step's decimals × 100


def _axis_decimals(step, scale):
    """Places after the point needed to write every multiple of the grid step exactly (0.05 %: two)."""
    text = f"{step * scale:.4f}".rstrip("0")
    return len(text.split(".")[1]) if "." in text else 0


def _scale(maximum, whole_numbers=True):
    """A round upper bound for the y axis whose quarter — the grid step — is 1, 2, 2.5 or 5 × 10^n.

    The grid lines are labelled with that step's multiples, so the step must be one the labels can
    show: for counts a whole number (the axis of a chart of 0 and 1 reads 0 1 2 3 4, not 0 0 0 1 1),
    for fractions any power of ten.
    """
    if maximum <= 0:
        return 4 if whole_numbers else 1
    exponent = math.floor(math.log10(maximum / 4))
    for power in range(exponent, exponent + 2):
        for factor in (1, 2, 2.5, 5):
            step = factor * 10**power
            if whole_numbers and step != int(step):
                continue
            if 4 * step >= maximum:
                return 4 * step
    return 4 * 10 ** (exponent + 2)


def _whole(values):
    return all(isinstance(v, int) for v in values)


def _frame(parts, y_max, fmt, title):
    inner_h = HEIGHT - TOP - BOTTOM
    decimals = _axis_decimals(y_max / 4, getattr(fmt, "scale", 1))
    grid = []
    for i in range(5):
        value = y_max * i / 4
        y = TOP + inner_h - inner_h * i / 4
        grid.append(
            f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" stroke="#e2e8f0"/>'
            f'<text x="{LEFT - 4}" y="{y + 4:.1f}" text-anchor="end" font-size="10">'
            f"{escape(fmt(value, decimals))}</text>"
        )
    body = "".join(grid) + "".join(parts)
    return mark_safe(
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" '
        f'role="img" aria-label="{escape(title)}" font-family="sans-serif"><title>{escape(title)}</title>'
        f"{body}</svg>"
    )


def _x_labels(labels, x_of):
    """About eight labels, counted back from the last, which is always shown (today, the latest campaign)."""
    every = max(1, len(labels) // 8)
    last = len(labels) - 1
    return [
        f'<text x="{x_of(i):.1f}" y="{HEIGHT - BOTTOM + 14}" text-anchor="middle" font-size="10">{escape(label)}</text>'
        for i, label in enumerate(labels)
        if (last - i) % every == 0
    ]


def line_chart(labels, series: dict, title, fmt=count):
    """One polyline per series over shared x labels; series values are lists as long as labels."""
    if not labels:
        return mark_safe(f"<p>{escape(title)}: —</p>")
    values = [v for values in series.values() for v in values]
    y_max = _scale(max(values, default=0), whole_numbers=_whole(values))
    inner_w, inner_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x_of(i):
        return LEFT + (inner_w * i / (len(labels) - 1) if len(labels) > 1 else inner_w / 2)

    def y_of(v):
        return TOP + inner_h - inner_h * v / y_max

    parts = _x_labels(labels, x_of)
    legend_x = LEFT + 8
    for n, (name, values) in enumerate(series.items()):
        colour = COLOURS[n % len(COLOURS)]
        points = " ".join(f"{x_of(i):.1f},{y_of(v):.1f}" for i, v in enumerate(values))
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{points}"/>')
        parts.append(f'<text x="{legend_x}" y="{HEIGHT - 4}" font-size="11" fill="{colour}">■ {escape(name)}</text>')
        legend_x += 24 + 7 * len(name)  # about 7 px a character at 11 px: the next name starts after this one
        if values:
            parts.append(
                f'<circle cx="{x_of(len(values) - 1):.1f}" cy="{y_of(values[-1]):.1f}" r="3" fill="{colour}">'
                f"<title>{escape(name)}: {escape(fmt(values[-1]))}</title></circle>"
            )
    return _frame(parts, y_max, fmt, title)


def bar_chart(bars, title, fmt=count, limits=(), top_at_least=0):
    """Bars (label, value) with optional horizontal limit lines (value, label, colour), lowest first, e.g.
    the complaint rate's warning (WARN_COLOUR) and pause (STOP_COLOUR) lines. A bar above a limit takes
    the colour of the highest limit it passes, so the one campaign over the line stands out. The y axis
    reaches at least `top_at_least`, so a rate of 0 everywhere is not drawn on a 0-100 % axis."""
    if not bars:
        return mark_safe(f"<p>{escape(title)}: —</p>")
    values = [v for _label, v in bars]
    highest = max(values + [v * 1.2 for v, _l, _c in limits] + [top_at_least])
    y_max = _scale(highest, whole_numbers=_whole(values) and not limits)
    inner_w, inner_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = inner_w / len(bars)

    def x_of(i):
        return LEFT + slot * i + slot / 2

    parts = _x_labels([label for label, _v in bars], x_of)
    for i, (label, value) in enumerate(bars):
        h = inner_h * value / y_max
        fill = next((colour for limit, _l, colour in reversed(limits) if value > limit), COLOURS[0])
        parts.append(
            f'<rect x="{x_of(i) - slot * 0.35:.1f}" y="{TOP + inner_h - h:.1f}" width="{slot * 0.7:.1f}" '
            f'height="{h:.1f}" fill="{fill}"><title>{escape(label)}: {escape(fmt(value))}</title></rect>'
        )
    for value, label, colour in limits:
        y = TOP + inner_h - inner_h * value / y_max
        parts.append(
            f'<line class="limit" x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" stroke="{colour}" '
            f'stroke-width="1.5" stroke-dasharray="6 3"/><text x="{WIDTH - RIGHT}" y="{y - 3:.1f}" '
            f'text-anchor="end" font-size="10" fill="{colour}">{escape(label)}</text>'
        )
    return _frame(parts, y_max, fmt, title)
