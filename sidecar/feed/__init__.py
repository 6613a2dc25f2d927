"""The change feed after ingestion: what each consent change means (`events`), and a cursor
that reads it forward from a version with expiring grants placed in it (`cursor`)."""

from .cursor import FeedCursor, HistoryGone
from .events import RESTRICTING, ChangeKind, FeedEvent, describe

__all__ = ["RESTRICTING", "ChangeKind", "FeedCursor", "FeedEvent", "HistoryGone", "describe"]
