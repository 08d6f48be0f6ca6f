"""benchmarks/compare.py: the before/after verdict from same-run ratios."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from compare import compare  # noqa: E402


def run(hit, share, tracking, hit_cpu=0.25):
    return {"hit_ratio_to_bare_app": hit, "share_hit_ratio_to_bare_app": share,
            "tracking_cost": tracking, "hit_rps": 1000, "hit_cpu_ratio_to_bare_app": hit_cpu}


def test_medians_per_side_and_the_change():
    report = compare([run(0.30, 0.28, 0.05), run(0.34, 0.30, 0.01), run(0.32, 0.29, 0.03)],
                     [run(0.33, 0.31, 0.02), run(0.31, 0.27, 0.04), run(0.35, 0.29, 0.03)])
    hit = report["compared"]["hit_ratio_to_bare_app"]
    assert (hit["before"], hit["after"], hit["change"]) == (0.32, 0.33, 1.031)
    assert report["compared"]["tracking_cost"]["change_points"] == 0.0
    assert "hit_rps" not in report["compared"]  # absolute rates are not compared
    assert report["within_10_percent"] is True


def test_a_cpu_ratio_that_falls_more_than_ten_percent_fails():
    report = compare([run(0.40, 0.30, 0.05, hit_cpu=0.30)], [run(0.40, 0.30, 0.05, hit_cpu=0.26)])
    assert report["compared"]["hit_cpu_ratio_to_bare_app"]["change"] == 0.867
    assert report["within_10_percent"] is False


def test_throughput_ratios_and_costs_are_reported_not_judged():
    """On a busy machine they spread wider than 10 % between runs of one commit."""
    report = compare([run(0.40, 0.30, 0.02)], [run(0.30, 0.30, 0.15)])
    assert report["compared"]["hit_ratio_to_bare_app"]["change"] == 0.75
    assert report["compared"]["tracking_cost"]["change_points"] == 13.0
    assert report["within_10_percent"] is True


def test_a_key_missing_from_a_run_is_left_out():
    before, after = [run(0.4, 0.3, 0.02)], [{"hit_ratio_to_bare_app": 0.4}]
    assert list(compare(before, after)["compared"]) == ["hit_ratio_to_bare_app"]


def test_cpu_ratios_are_derived_from_cpu_per_request():
    from compare import with_cpu_ratios

    summary = with_cpu_ratios({"cpu_ms_per_request": {"bare_app": 0.5, "hit": 2.0,
                                                      "hit_share": 0.0}})
    assert summary["hit_cpu_ratio_to_bare_app"] == 0.25
    assert "share_hit_cpu_ratio_to_bare_app" not in summary  # no figure, no ratio
    assert "revalidate_cpu_ratio_to_bare_app" not in summary
