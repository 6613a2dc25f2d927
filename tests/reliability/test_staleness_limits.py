"""A staleness limit that is not a number must be refused: NaN compares false with every
age, so a cache under it would never be stale and the sidecar would fail open."""

from __future__ import annotations

import pytest

from sidecar.core.errors import InvalidValueError
from sidecar.settings import resolve


@pytest.mark.xfail(strict=True, raises=pytest.fail.Exception, reason=(
    "settings._positive accepts nan (nan <= 0 is false): `maytrain serve --max-staleness "
    "nan` or MAYTRAIN_MAX_STALENESS=nan serves a cache of any age"))
@pytest.mark.parametrize("value", ["nan", "NaN"])
def test_a_nan_max_staleness_is_refused(value: str) -> None:
    with pytest.raises(InvalidValueError):
        resolve({"max_staleness": value}, env={})
