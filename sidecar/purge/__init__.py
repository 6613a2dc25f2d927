"""Purge plans: which records a pipeline already took are no longer allowed, found by
re-deciding its lineage manifests now (`maytrain purge-plan`).

Names are imported on first use (PEP 562), so that the plan without pyarrow (`plain`, for
JSON Lines manifests) can be imported where pyarrow is not installed.
"""

from __future__ import annotations

import importlib
from typing import Any

_HOME = {"Answers": "deciders", "Decider": "deciders", "SidecarDecider": "deciders",
         "StoreDecider": "deciders", "ManifestReader": "manifests", "make_plan": "plan",
         "ManifestError": "lines", "PlanFailed": "store_rules", "PlanCounts": "output",
         "PlanOutput": "output", "accounts_changed_at_sidecar": "changed",
         "accounts_changed_in_store": "changed", "manifest_paths": "paths"}

__all__ = sorted(_HOME)


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_HOME[name]}", __name__), name)
