"""The records' pure checks: text stored as given or refused clearly, alert and objective changes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consumers.records.checks import MAX_TEXT, InvalidInput, alert_update_error, check_text, objective_change_error

ALERT_STATUSES = ("held", "new", "acknowledged", "actioned", "dismissed", "dropped")


@given(st.text(min_size=1, max_size=MAX_TEXT).filter(lambda t: t.strip() and "\x00" not in t))
def test_any_storable_text_is_returned_unchanged(text):
    assert check_text("the note", text) is text


@given(st.integers(min_value=MAX_TEXT + 1, max_value=3 * MAX_TEXT))
def test_text_over_the_limit_is_refused_saying_how_long_it_is(length):
    with pytest.raises(InvalidInput, match=f"{length:,} characters; at most {MAX_TEXT:,}"):
        check_text("the note", "a" * length)


@pytest.mark.parametrize(("text", "message"), [("", "is empty"), (None, "is empty"), ("  \n\t", "only white space"), ("a\x00b", "NUL")])
def test_empty_blank_and_nul_text_is_refused(text, message):
    with pytest.raises(InvalidInput, match=message):
        check_text("the note", text)


def test_optional_text_may_be_absent():
    assert check_text("the note", None, required=False) is None and check_text("the note", "", required=False) is None


def test_markup_is_stored_as_given():
    assert check_text("the note", "<script>alert(1)</script> [bold]x[/]") == "<script>alert(1)</script> [bold]x[/]"


@pytest.mark.parametrize("current", ALERT_STATUSES)
@pytest.mark.parametrize("target", ("acknowledged", "actioned", "dismissed"))
def test_only_a_raised_open_alert_can_be_worked_on(current, target):
    allowed = current in ("new", "acknowledged") and current != target
    problem = alert_update_error(current, target)
    assert (problem is None) == allowed, (current, target, problem)
    if current in ("held", "dropped"):
        assert "never sent" in problem


def test_an_alert_cannot_become_new_again():
    assert "not 'new'" in alert_update_error("acknowledged", "new")


@given(st.sets(st.sampled_from(["description", "due", "status", "progress"]), min_size=1), st.booleans())
def test_a_student_may_change_only_progress(fields, by_student):
    problem = objective_change_error(fields, by_student)
    assert (problem is None) == (not by_student or fields == {"progress"})
    if problem:
        assert "staff change the" in problem and all(f in problem for f in fields - {"progress"})


def test_objective_changes_must_name_known_fields():
    assert "nothing to change" in objective_change_error(set(), False)
    assert "no field(s) owner" in objective_change_error({"owner", "status"}, False)
