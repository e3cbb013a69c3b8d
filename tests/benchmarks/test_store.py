"""Results that accumulate: later runs add and replace cells, and keep the rest."""

import pytest

from benchmarks.store import accumulate, load_cells


def test_a_later_run_adds_and_replaces_cells_and_keeps_the_others(tmp_path):
    store = tmp_path / "table.json"
    written = []
    accumulate(store, [("a", lambda: {"v": 1}), ("b", lambda: {"v": 2})], written.append)
    accumulate(store, [("b", lambda: {"v": 3}), ("c", lambda: {"v": 4})], written.append)
    assert load_cells(store) == {"a": {"v": 1}, "b": {"v": 3}, "c": {"v": 4}}
    assert written[-1] == load_cells(store)


def test_a_run_that_fails_keeps_the_cells_it_finished(tmp_path):
    store = tmp_path / "table.json"

    def fails():
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        accumulate(store, [("a", lambda: {"v": 1}), ("b", fails)], lambda cells: None)
    assert load_cells(store) == {"a": {"v": 1}}
