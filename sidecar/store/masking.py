"""mask_url(): a store URL as it may appear in logs, status and errors (passwords hidden).

A module of its own so that `urls` (which picks backends) and the backends (which mask
their own messages) both use it without importing each other.
"""

from __future__ import annotations

import re

# The password runs to the last @ before any query string, so a stray / or @ in it (which
# should have been percent-encoded) is masked too.
_USERINFO = re.compile(r"(?i)^(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^:@/?]*):[^?]*@")
PASSWORD_PARAM = re.compile(r"(?i)(password=)[^&\s]*")


def mask_url(url: str) -> str:
    """The URL with the userinfo password and any `password=` parameter replaced by ***."""
    masked = _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:***@", url)
    return PASSWORD_PARAM.sub(r"\1***", masked)
