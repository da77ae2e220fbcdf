"""The digest chart: stories per hour per group (place or watch) over the last 24 h, as a PNG.

matplotlib with the Agg backend, used through ``Figure`` and ``FigureCanvasAgg`` directly rather than
``pyplot``: no global figure registry, no GUI backend chosen from the environment, nothing kept between
calls, so it is safe in a server process and in a worker thread. One line per group, in the digest's
order (biggest places first); beyond ``MAX_SERIES`` groups the rest are summed into one "other" line so
the legend stays readable. Hours are labelled in the destination's zone, as the digest text is.

Slack uploads the PNG with ``files_upload_v2``, Discord attaches it; the console, jsonl and webhooks show
the text sparkline instead (``core.digests.sparkline``).
"""

from __future__ import annotations

import io
from datetime import datetime, timedelta
from typing import Any, Mapping

from bot.core.digests import CHART_HOURS, Digest

WIDTH_PX = 960
HEIGHT_PX = 480
DPI = 100
MAX_SERIES = 8
CHART_TITLE = "Stories per hour, last 24 h"


def chart_series(digest: Digest) -> list[tuple[str, list[int]]]:
    """(label, 24 hourly counts) per line of the chart: one per group, the tail summed into "other"."""
    series = [(g.label, list(g.hourly) or [0] * CHART_HOURS) for g in digest.groups]
    if len(series) > MAX_SERIES:
        head, tail = series[: MAX_SERIES - 1], series[MAX_SERIES - 1 :]
        other = [sum(values) for values in zip(*(v for _, v in tail))]
        series = head + [(f"{len(tail)} other groups", other)]
    return series


def build_figure(digest: Digest) -> Any:
    """The chart as a matplotlib ``Figure`` (tests read its lines; ``render_png`` saves it)."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    zone = digest.zoneinfo
    start = datetime.fromisoformat(digest.chart_start) if digest.chart_start else datetime.fromisoformat(
        digest.window_end) - timedelta(hours=CHART_HOURS)
    hours = [start + timedelta(hours=i) for i in range(CHART_HOURS)]
    labels = [h.astimezone(zone).strftime("%H:%M") for h in hours]

    fig = Figure(figsize=(WIDTH_PX / DPI, HEIGHT_PX / DPI), dpi=DPI)
    ax = fig.add_subplot(1, 1, 1)
    x = list(range(CHART_HOURS))
    for label, values in chart_series(digest):
        ax.plot(x, values, marker="o", markersize=3, linewidth=1.8, label=_short(label))
    ax.set_title(f"{CHART_TITLE} · {digest.local_date} ({zone.key})")
    ax.set_ylabel("stories first seen")
    ax.set_xticks(x[::3])
    ax.set_xticklabels(labels[::3])
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    if digest.groups:
        ax.legend(loc="upper left", fontsize="small", frameon=False)
    else:
        ax.text(0.5, 0.5, "quiet day: nothing matched", ha="center", va="center", transform=ax.transAxes)
    fig.tight_layout()
    return fig


def render_png(payload: Mapping[str, Any] | Digest) -> bytes:
    """A digest (or its outbox payload) -> PNG bytes of ``WIDTH_PX`` x ``HEIGHT_PX``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    digest = payload if isinstance(payload, Digest) else Digest.from_payload(payload)
    fig = build_figure(digest)
    FigureCanvasAgg(fig)
    out = io.BytesIO()
    fig.savefig(out, format="png", dpi=DPI)
    return out.getvalue()


def _short(label: str, limit: int = 40) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"
