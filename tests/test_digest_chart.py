"""The digest chart is a valid PNG of the expected size with one series per group."""

from __future__ import annotations

import struct
import zlib
from dataclasses import replace

import pytest

from bot.adapters import digest_chart
from bot.core.digests import compose
from tests.test_digests import DUE, END, START, STORED


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from the IHDR chunk, after checking the signature and the chunk's CRC."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "PNG signature"
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and length == 13
    body = data[16:16 + length]
    (crc,) = struct.unpack(">I", data[16 + length:20 + length])
    assert crc == zlib.crc32(kind + body)
    assert data.endswith(b"IEND\xaeB`\x82")
    return struct.unpack(">II", body[:8])


def test_chart_is_a_png_of_the_expected_size_with_one_line_per_group():
    digest = compose(STORED, due=DUE, start=START, end=END)
    data = digest_chart.render_png(digest.to_payload())
    assert png_size(data) == (digest_chart.WIDTH_PX, digest_chart.HEIGHT_PX)
    ax = digest_chart.build_figure(digest).axes[0]
    lines = ax.get_lines()
    assert [line.get_label() for line in lines] == [g.label for g in digest.groups]
    assert [list(line.get_ydata()) for line in lines] == [list(g.hourly) for g in digest.groups]


@pytest.mark.parametrize("groups, expected_lines", [(0, 0), (3, 3), (12, digest_chart.MAX_SERIES)],
                         ids=["quiet", "few", "many-folded-into-other"])
def test_series_count(groups, expected_lines):
    base = compose(STORED, due=DUE, start=START, end=END)
    template = base.groups[0]
    many = tuple(replace(template, label=f"group {n}", hourly=(n,) * 24) for n in range(groups))
    digest = replace(base, groups=many, total=groups)
    series = digest_chart.chart_series(digest)
    assert len(series) == expected_lines
    if groups > digest_chart.MAX_SERIES:
        label, values = series[-1]
        folded = range(digest_chart.MAX_SERIES - 1, groups)
        assert label == f"{len(folded)} other groups" and values == [sum(folded)] * 24
    assert len(digest_chart.build_figure(digest).axes[0].get_lines()) == expected_lines
    assert png_size(digest_chart.render_png(digest)) == (960, 480)
