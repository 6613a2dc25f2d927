"""A staleness limit that is not a number must be refused: NaN compares false with every
age, so a cache under it would never be stale and the sidecar would fail open."""

from __future__ import annotations

import pytest

from sidecar.core.errors import InvalidValueError
from sidecar.settings import resolve


@pytest.mark.parametrize("value", ["nan", "NaN", "inf"])
def test_a_nan_max_staleness_is_refused(value: str) -> None:
    with pytest.raises(InvalidValueError):
        resolve({"max_staleness": value}, env={})
