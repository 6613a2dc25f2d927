"""The consent store's column lists and row conversions, shared with the SQLite backend.

Both backends keep the same tables under the same column names and hand the same Python
values (integers, text, NULL as None) to the driver, so the SQLite backend's lists and
conversions serve here unchanged; what differs in SQL lives beside the queries.
"""

from ..sqlite.columns import (CHANGE_COLUMNS, COLUMNS, FEED_COLUMNS, FROM, TABLES, VALUES,
                              account_from, change_values, entry_from, row_from_feed)

__all__ = ["CHANGE_COLUMNS", "COLUMNS", "FEED_COLUMNS", "FROM", "TABLES", "VALUES",
           "account_from", "change_values", "entry_from", "row_from_feed"]
