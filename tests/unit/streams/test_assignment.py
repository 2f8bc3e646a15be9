from streams.assignment import AssignmentWatch


def test_the_first_question_is_a_change_and_an_unchanged_assignment_is_not():
    watch = AssignmentWatch()
    assert watch.changed("engine", 1, {"a", "b"})
    assert not watch.changed("engine", 1, {"b", "a"})


def test_a_partition_handed_away_and_back_is_a_change_though_the_set_is_the_same():
    watch = AssignmentWatch()
    watch.changed("engine", 3, {"a", "b"})
    # Two rebalances between two batches: b went to another worker and came back.
    assert watch.changed("engine", 5, {"a", "b"})


def test_each_agent_is_told_once_about_the_same_rebalance():
    watch = AssignmentWatch()
    watch.changed("engine", 1, {"a"})
    watch.changed("cohorts", 1, {"a"})
    assert watch.changed("engine", 2, {"a", "b"})
    assert not watch.changed("engine", 2, {"a", "b"})
    assert watch.changed("cohorts", 2, {"a", "b"})
