"""The sample consent data (`sample.jsonl`, documented in README.md) and its loader.

The sample is loaded through the ordinary import path, once: loading it into a store
that already holds every sample row does nothing; a store holding only some refuses.
"""

from __future__ import annotations

from importlib import resources

from ..store import ConsentStore, ValidationError, WriteResult
from ..store.imports import ImportBatch, import_batch, parse_lines
from ..store.requests import AccountRequest, ConsentRequest

SAMPLE_NAME = "sample.jsonl"


def sample_text() -> str:
    """The JSON Lines text of the sample."""
    return resources.files(__package__).joinpath(SAMPLE_NAME).read_text("utf-8")


def sample_batch() -> ImportBatch:
    """The sample, parsed."""
    return parse_lines(sample_text().splitlines())


def load_sample(store: ConsentStore, *, actor: str) -> WriteResult | None:
    """Import the sample; None when the store already holds it (nothing written)."""
    batch = sample_batch()
    present = [_present(store, request) for request in batch.requests]
    if all(present):
        return None
    if any(present):
        first = next(r for r, p in zip(batch.requests, present, strict=True) if p)
        raise ValidationError("", f"the store holds some sample rows (e.g. {_id(first)!r}) but "
                                  "not all; the sample was not loaded")
    return import_batch(store, batch, actor=actor)


def _id(request: object) -> str:
    if isinstance(request, AccountRequest):
        return request.account_id
    return request.entry_id if isinstance(request, ConsentRequest) else request.erasure_id


def _present(store: ConsentStore, request: object) -> bool:
    if isinstance(request, AccountRequest):
        return store.account(request.account_id) is not None
    if isinstance(request, ConsentRequest):
        return store.consent(request.entry_id) is not None
    return store.erasure(_id(request)) is not None
