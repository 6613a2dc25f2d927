"""The core's exceptions: what a caller can catch, each with a message a person can act on."""

from __future__ import annotations


class MaytrainError(Exception):
    """Base of every error maytrain raises on purpose."""


class PolicyError(MaytrainError):
    """A policy text that cannot be used; names the source, the key and what is wrong."""

    def __init__(self, source: str, key: str, problem: str) -> None:
        self.source = source
        self.key = key
        self.problem = problem
        where = f"{source}: {key}" if key else source
        super().__init__(f"{where}: {problem}")


class InvalidValueError(MaytrainError, ValueError):
    """A value (timestamp, region, scope) that is malformed or not declared."""
