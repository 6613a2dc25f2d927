"""Optional dependencies (pyarrow, pyspark), imported only when an integration is used."""

from __future__ import annotations

import importlib
from types import ModuleType


def require(module: str, extra: str) -> ModuleType:
    """Import `module`, or fail saying which extra of maytrain-client installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(f"this part of maytrain.client needs {module.split('.')[0]}, which "
                          f"is not installed: pip install 'maytrain-client[{extra}]'") from exc
