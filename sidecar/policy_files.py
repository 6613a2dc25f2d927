"""Reading policy files from disk, and the default policy shipped inside the package."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from .core.errors import PolicyError
from .core.policy import Policy, parse_policy

DEFAULT_POLICY_NAME = "default.toml"


def default_policy_text() -> str:
    """The text of the built-in policy (DESIGN.md section 2a)."""
    return resources.files("sidecar.policies").joinpath(DEFAULT_POLICY_NAME).read_text("utf-8")


def load_policy(path: str | Path | None = None) -> Policy:
    """Load the policy at `path`, or the built-in one when no path is given."""
    if path is None or str(path) == "":
        return parse_policy(default_policy_text(), f"<built-in {DEFAULT_POLICY_NAME}>")
    try:
        text = Path(path).read_text("utf-8")
    except OSError as exc:
        raise PolicyError(str(path), "", f"cannot read the policy file: {exc.strerror}") from None
    return parse_policy(text, str(path))
