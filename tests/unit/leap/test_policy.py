"""The policy's optional source display names: known sources only, never blank."""

from __future__ import annotations

from pathlib import Path

import pytest

from leap.policy import PolicyError, load_policy

DEPLOYED = Path(__file__).resolve().parents[3] / "deploy" / "institution.toml"


def test_the_deployed_policy_names_moodle():
    assert load_policy(DEPLOYED).sources.display_names == {"vle": "Moodle"}


def test_display_names_are_optional(tmp_path):
    path = tmp_path / "policy.toml"
    path.write_text("[engagement]\nwindow_days_full_time = 7\n")
    assert load_policy(path).sources.display_names == {}


@pytest.mark.parametrize(
    ("section", "message"),
    [('moodle = "Moodle"', "unknown sources ['moodle']"), ('library = "  "', "a display name cannot be empty")],
)
def test_bad_display_names_are_named(tmp_path, section, message):
    path = tmp_path / "policy.toml"
    path.write_text(f"[sources.display_names]\n{section}\n")
    with pytest.raises(PolicyError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_policy(path)
