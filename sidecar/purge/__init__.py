"""Purge plans: which records a pipeline already took are no longer allowed, found by
re-deciding its lineage manifests now (`maytrain purge-plan`)."""

from .changed import accounts_changed_at_sidecar, accounts_changed_in_store
from .deciders import Answers, Decider, PlanFailed, SidecarDecider, StoreDecider
from .manifests import ManifestError, ManifestReader
from .plan import PlanCounts, PlanOutput, make_plan

__all__ = ["Answers", "Decider", "ManifestError", "ManifestReader", "PlanCounts", "PlanFailed",
           "PlanOutput", "SidecarDecider", "StoreDecider", "accounts_changed_at_sidecar",
           "accounts_changed_in_store", "make_plan"]
