"""watch_changes(): the sidecar's feed of consent changes as an iterator that resumes.

A broken stream (the sidecar restarted, the stream fell behind) is opened again from the
last version the iterator reached, with the client's retry policy between attempts; an
expiry the sidecar announces again at exactly that version is not yielded twice.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import grpc

from maytrain.v1 import consent_check_service_pb2 as pb

from ._errors import (
    HistoryUnavailable,
    SidecarUnavailable,
    describe,
    is_no_answer,
    rejected,
)
from ._stream import Attempts

if TYPE_CHECKING:
    from ._sync import ConsentClient

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class ChangeKind(enum.StrEnum):
    """What a consent change did; compares equal to its name ("OPT_OUT")."""

    UNSPECIFIED = "UNSPECIFIED"
    ACCOUNT_ADDED = "ACCOUNT_ADDED"
    ACCOUNT_UPDATED = "ACCOUNT_UPDATED"
    GRANT = "GRANT"
    OPT_OUT = "OPT_OUT"
    WITHDRAWN = "WITHDRAWN"
    ERASURE = "ERASURE"
    EXPIRED = "EXPIRED"


_KINDS = {pb.ChangeKind.Value(f"CHANGE_KIND_{k.name}"): k for k in ChangeKind}


@dataclass(frozen=True, slots=True)
class ConsentChange:
    """One change of the feed; `restricts` when it can turn an ALLOW into a DENY."""

    consent_version: int
    kind: ChangeKind
    restricts: bool
    account_id: str
    user_id: str = ""
    category: str = ""
    purpose: str = ""
    entry_id: str = ""
    effective_from: datetime | None = None


class ChangeWatch:
    """The changes after `from_version`, in order, each once; `consent_version` is the
    version reached so far. With follow=False it ends once the sidecar has caught up."""

    def __init__(self, client: ConsentClient, from_version: int, *, restricting_only: bool,
                 follow: bool) -> None:
        if from_version < 0:
            raise ValueError("from_version must be >= 0")
        self.consent_version = from_version
        self._client, self._only, self._follow = client, restricting_only, follow
        self._expired_here: set[str] = set()  # EXPIRED entry ids yielded at consent_version
        self._call: Any = None  # the stream in progress (a grpc.Call and iterator)

    def __iter__(self) -> Iterator[ConsentChange]:
        attempts = Attempts(self._client.config.retry)
        while True:
            try:
                yield from self._stream(attempts)
                if not self._follow:
                    return
                self._pause(attempts, "the sidecar ended the stream")  # shutting down, say
            except grpc.RpcError as error:
                self._broken(error, attempts)
            finally:
                self.close()

    def close(self) -> None:
        """Cancel the stream in progress, if any."""
        if self._call is not None:
            self._call.cancel()
            self._call = None

    def _stream(self, attempts: Attempts) -> Iterator[ConsentChange]:
        request = pb.WatchChangesRequest(from_consent_version=self.consent_version,
                                         restricting_only=self._only)
        self._call = call = self._client._stub.WatchChanges(
            request, wait_for_ready=self._client.config.wait_for_ready)
        for response in call:
            attempts.succeeded()
            for wire in response.changes:
                change = _from_wire(wire)
                if self._seen(change):
                    continue
                self._advance(change.consent_version)
                if change.kind is ChangeKind.EXPIRED:
                    self._expired_here.add(change.entry_id)
                yield change
            self._advance(response.consent_version)
            if not response.changes and not self._follow:
                return

    def _seen(self, change: ConsentChange) -> bool:
        """True for what a resumed stream sends again (an expiry at the resume version)."""
        if change.consent_version < self.consent_version:
            return True
        return (change.consent_version == self.consent_version
                and change.kind is ChangeKind.EXPIRED and change.entry_id in self._expired_here)

    def _advance(self, version: int) -> None:
        if version > self.consent_version:
            self.consent_version, self._expired_here = version, set()

    def _broken(self, error: grpc.RpcError, attempts: Attempts) -> None:
        """Wait before resuming a broken stream; raise what retrying will not mend."""
        target = self._client.config.target
        if error.code() == grpc.StatusCode.OUT_OF_RANGE:
            raise HistoryUnavailable(f"the sidecar at {target}: {error.details()}") from error
        if not is_no_answer(error):
            raise rejected(error, target) from error
        self._pause(attempts, describe(error))

    def _pause(self, attempts: Attempts, why: str) -> None:
        """Back off before the next attempt, or give up when the attempts are used up."""
        delay = attempts.failed(float("inf"))
        if delay is None:
            raise SidecarUnavailable(f"the change feed of the sidecar at "
                                     f"{self._client.config.target} broke and did not come "
                                     f"back: {why}")
        time.sleep(delay)


def _from_wire(wire: pb.ConsentChange) -> ConsentChange:
    effective = None
    if wire.HasField("effective_from"):
        stamp = wire.effective_from
        effective = _EPOCH + timedelta(seconds=stamp.seconds, microseconds=stamp.nanos // 1000)
    return ConsentChange(wire.consent_version, _KINDS.get(wire.kind, ChangeKind.UNSPECIFIED),
                         wire.restricts, wire.account_id, wire.user_id, wire.category,
                         wire.purpose, wire.entry_id, effective)
