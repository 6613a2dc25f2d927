"""Decision receipts: every decision (or a sampled share) appended to a rotating, fsynced
JSON Lines spool, and read back, filtered, by `maytrain receipts`.

    ReceiptWriter   the observer: a bounded queue and one writer thread (writer.py)
    Spool           the files on disk: rotation by size and age, a cap on the total (spool.py)
    read_receipts   the receipts of a spool that pass a filter, optionally followed (reader.py)
"""

from .lines import FIELDS
from .reader import ReceiptFilter, read_receipts
from .spool import Spool, SpoolLimits, spool_files
from .writer import DROP_CAUSES, ReceiptCounts, ReceiptWriter

__all__ = ["DROP_CAUSES", "FIELDS", "ReceiptCounts", "ReceiptFilter", "ReceiptWriter", "Spool",
           "SpoolLimits", "read_receipts", "spool_files"]
