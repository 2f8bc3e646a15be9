"""Which dropped exports are ready: settled, not partial, not already published."""

from __future__ import annotations

from producers.folder_watch import DoneFiles, list_folder, ready_files

S = 1_000_000_000


def test_settled_new_files_are_ready_oldest_first():
    listing = [("b.csv", 10, 5 * S), ("a.csv", 10, 7 * S), ("c.csv", 10, 99 * S)]
    assert ready_files(listing, {}, now_ns=100 * S, settle_seconds=5) == ["b.csv", "a.csv"]  # c.csv may still be copying


def test_partial_and_hidden_names_are_never_ready():
    listing = [(name, 1, 0) for name in ("x.csv.part", ".x.csv", "x.csv~", "x.tmp", "x.csv")]
    assert ready_files(listing, {}, now_ns=100 * S, settle_seconds=1) == ["x.csv"]


def test_a_published_file_is_ready_again_only_when_it_changed():
    done = {"a.csv": (10, 5 * S)}
    assert ready_files([("a.csv", 10, 5 * S)], done, now_ns=100 * S, settle_seconds=1) == []
    assert ready_files([("a.csv", 12, 6 * S)], done, now_ns=100 * S, settle_seconds=1) == ["a.csv"]


def test_done_files_survive_a_restart(tmp_path):
    state = tmp_path / "state" / "follow.json"
    DoneFiles(state).mark("a.csv", 10, 5)
    assert DoneFiles(state).files == {"a.csv": (10, 5)}
    (tmp_path / "drop").mkdir()
    (tmp_path / "drop" / "x.csv").write_text("abc")
    (tmp_path / "drop" / "sub").mkdir()
    assert [(n, size) for n, size, _ in list_folder(tmp_path / "drop")] == [("x.csv", 3)]
