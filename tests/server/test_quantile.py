"""The handling times the filing report and ``report-stats`` give the regulator: the median and 90th
percentile picked ``ordered[int(n * q)]``, one rank high (the median of 1..10 hours came out 6, the
90th percentile the maximum; of two reports, 1 h and 2 h, the median 2): a reviewer's case."""

from __future__ import annotations

import pytest

from server.operator.common import quantile
from server.operator.filing import HOUR_MS, _hours


@pytest.mark.parametrize("values, q, expected", [
    ([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.5, 5.5),
    ([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.9, 9.1),
    ([1, 2], 0.5, 1.5),
    ([4], 0.5, 4),
    ([4], 0.9, 4),
    ([1, 2, 3], 0.5, 2),
    ([1, 2, 3], 0.0, 1),
    ([1, 2, 3], 1.0, 3),
])
def test_quantile_interpolates_between_the_values_around_it(values, q, expected) -> None:
    assert quantile(values, q) == pytest.approx(expected)


def test_the_filing_reports_handling_hours() -> None:
    assert _hours([h * HOUR_MS for h in range(10, 0, -1)]) == {"median": 5.5, "p90": 9.1, "max": 10.0, "mean": 5.5}
