"""The public surface of sidecar.store: `__all__` is complete and every name in it exists."""

from __future__ import annotations

import sidecar.store as store_package
from sidecar.core.errors import MaytrainError


def test_all_names_exist_and_are_sorted():
    """Nothing in __all__ is missing; the list stays sorted so additions are easy to review."""
    assert all(hasattr(store_package, name) for name in store_package.__all__)
    assert store_package.__all__ == sorted(store_package.__all__)


def test_every_public_class_and_function_is_in_all():
    """A public name defined in the package's modules and imported here is exported."""
    public = {name for name, value in vars(store_package).items()
              if not name.startswith("_") and callable(value)
              and getattr(value, "__module__", "").startswith("sidecar.store")}
    assert public <= set(store_package.__all__)


def test_store_errors_form_one_hierarchy_under_maytrain_error():
    """Callers can catch StoreError for every store failure, or MaytrainError for any."""
    errors = [store_package.StoreUnavailableError, store_package.ValidationError,
              store_package.NotFoundError]
    assert all(issubclass(e, store_package.StoreError) for e in errors)
    assert issubclass(store_package.StoreError, MaytrainError)
