"""Dashboard charts are plain SVG, and labels that came from callers or rules cannot inject markup."""

from __future__ import annotations

from ivr.admin.charts import bar_chart, hbar_chart, line_chart


def test_labels_are_escaped() -> None:
    svg = str(hbar_chart([("<script>alert(1)</script>", 3)], "Transfers by reason"))
    assert "<script>" not in svg and "&lt;script&gt;" in svg


def test_an_hour_without_data_is_a_gap_not_a_zero() -> None:
    svg = str(line_chart(["10:00", "11:00", "12:00", "13:00"], [("mean", [0.5, None, 0.7, 0.8])], "Recognition"))
    assert svg.count("<polyline") == 1 and svg.count("<circle") == 3


def test_one_bar_per_hour() -> None:
    assert str(bar_chart([f"{h:02}:00" for h in range(24)], [1.0] * 24, "Calls per hour")).count("<rect") == 24
