"""The chart's copy of the default policy cannot drift from the one the sidecar ships."""

from chart_render import CHART_DIR, REPO_ROOT


def test_chart_default_policy_equals_the_sidecar_default_policy():
    chart_copy = CHART_DIR / "files" / "default-policy.toml"
    original = REPO_ROOT / "sidecar" / "policies" / "default.toml"

    assert chart_copy.read_bytes() == original.read_bytes(), (
        f"{chart_copy.relative_to(REPO_ROOT)} differs from {original.relative_to(REPO_ROOT)}: "
        f"cp {original.relative_to(REPO_ROOT)} {chart_copy.relative_to(REPO_ROOT)}"
    )
