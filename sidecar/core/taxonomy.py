"""Dotted-key trees (data categories, purposes) and the covers/overlaps relations on them."""

from __future__ import annotations

import re
from collections.abc import Iterable

_KEY = re.compile(r"[a-z0-9_]+(\.[a-z0-9_]+)*")


def is_well_formed_key(key: str) -> bool:
    """True for a dotted key of lowercase segments (`customer_content.chat`)."""
    return bool(_KEY.fullmatch(key))


def ancestors(key: str) -> list[str]:
    """The key and each dotted prefix of it, narrowest first."""
    parts = key.split(".")
    return [".".join(parts[:i]) for i in range(len(parts), 0, -1)]


def covers(scope: str, key: str) -> bool:
    """True when `scope` equals `key` or is a dotted prefix of it."""
    return key == scope or key.startswith(scope + ".")


def overlaps(scope: str, key: str) -> bool:
    """True when either key covers the other."""
    return covers(scope, key) or covers(key, scope)


class Taxonomy:
    """The declared nodes of one tree; every prefix of a declared key is a node too."""

    def __init__(self, keys: Iterable[str]) -> None:
        nodes: set[str] = set()
        for key in keys:
            nodes.update(ancestors(key))
        parents = {key.rsplit(".", 1)[0] for key in nodes if "." in key}
        self.nodes: frozenset[str] = frozenset(nodes)
        self.leaves: frozenset[str] = frozenset(nodes - parents)

    def __contains__(self, key: object) -> bool:
        return key in self.nodes

    def is_leaf(self, key: str) -> bool:
        """True for a declared node with no declared children."""
        return key in self.leaves

    def subtree(self, key: str) -> list[str]:
        """The node and every declared descendant of it."""
        return [node for node in self.nodes if covers(key, node)]
