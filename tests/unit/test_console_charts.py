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


def test_axes_have_ticks_grid_and_titles_and_the_newest_label_is_not_clipped() -> None:
    svg = str(
        bar_chart([f"{h:02}:00" for h in range(24)], [3.0] * 23 + [7.0], "Calls", x_title="hour", y_title="calls")
    )
    assert svg.count('class="grid"') == 4 and ">8<" in svg  # the top rounded up to a value the quarters divide
    assert "hour</text>" in svg and "calls</text>" in svg
    x_of_last = float(svg.rsplit('text-anchor="middle" class="tick">23:00', 1)[0].rsplit('x="', 1)[1].split('"')[0])
    assert x_of_last + 18 <= 640, "the rightmost label fits inside the chart"


def test_built_in_reasons_read_as_words_and_long_labels_are_shortened() -> None:
    from ivr.admin.queries import reason_label

    assert reason_label("repeated_failure") == "not understood twice" and reason_label("fraude") == "fraude"
    svg = str(hbar_chart([("x" * 80, 2)], "Transfers by reason"))
    assert "x" * 29 + "…" in svg and "x" * 80 in svg  # shortened on the bar, whole in the tooltip
