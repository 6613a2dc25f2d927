"""What a snapshot writer killed mid-write leaves beside its file, and how it is removed.

The warm-start file itself is `index_file` (format 3: the compact index, mapped); its
writes go to a temporary `.{name}.XXXXXXXX` file that is renamed into place, so a reader
sees the old file or the new one. A writer killed before the rename leaves that
temporary file, which the next sidecar's writer removes at start.
"""

from __future__ import annotations

import logging
import re
import stat
from pathlib import Path

log = logging.getLogger("maytrain.snapshot")
# tempfile.mkstemp's names: the prefix, then 8 of these characters.
_TEMP_NAME = "[a-z0-9_]{8}"


def remove_temporary_files(path: Path) -> list[Path]:
    """Delete what a writer killed mid-write left beside `path` (`.{name}.XXXXXXXX`
    regular files, nothing else); return what was removed."""
    pattern = re.compile(rf"\.{re.escape(path.name)}\.{_TEMP_NAME}")
    removed = []
    try:
        candidates = [p for p in path.parent.iterdir() if pattern.fullmatch(p.name)]
    except OSError:  # no directory yet: nothing was left
        return []
    for candidate in candidates:
        try:
            if stat.S_ISREG(candidate.lstat().st_mode):
                candidate.unlink()
                removed.append(candidate)
        except OSError as exc:
            log.warning("could not remove left-over snapshot file %s: %s", candidate, exc)
    return removed
