"""The settings of `serve --follow` and `maytrain relay`: durations with units, the 7-day
default retention, and NATS URLs masked in the start-up line."""

from __future__ import annotations

import pytest

from sidecar.core.errors import InvalidValueError
from sidecar.settings import resolve


def test_retention_takes_seconds_or_a_unit_and_keeps_seven_days_by_default() -> None:
    assert resolve({}, {}).retention == 7 * 86_400
    assert resolve({"retention": "12h"}, {}).retention == 43_200
    assert resolve({}, {"MAYTRAIN_SNAPSHOT_SECONDS": "5m"}).snapshot_seconds == 300
    with pytest.raises(InvalidValueError, match="retention"):
        resolve({"retention": "a week"}, {})


def test_nats_urls_are_masked_in_the_start_up_line() -> None:
    described = resolve({"follow": "nats://fleet:secret@nats:4222"}, {}).described()
    assert "secret" not in described and "follow=nats://fleet:***@nats:4222" in described


def test_the_relays_round_gap_may_be_zero_but_not_negative() -> None:
    assert resolve({}, {}).round_gap == 0.02
    assert resolve({"round_gap": "0"}, {}).round_gap == 0.0
    assert resolve({}, {"MAYTRAIN_ROUND_GAP": "0.05"}).round_gap == 0.05
    with pytest.raises(InvalidValueError, match="round-gap"):
        resolve({"round_gap": "-1"}, {})
