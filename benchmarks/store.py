"""Results that accumulate: a benchmark's JSON of named cells, saved atomically after each one.

A benchmark hands :func:`accumulate` its jobs, one per cell (a learner, a task, a setting); each
cell is added to the cells already in ``<name>.json`` or replaces the one of the same name, so
running the benchmark again with other learners adds rows to the same table instead of
rewriting it, and a run cut short keeps every cell it finished. The store is read again before
each save, so two runs adding to one table side by side keep each other's cells. A cell carries
its own command, commit and machine (:func:`benchmarks.provenance.provenance`). This module
stores; it neither measures nor draws.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

Cells = dict[str, dict[str, Any]]


def load_cells(store: Path) -> Cells:
    """The cells of an accumulating results JSON (none before the first run)."""
    return json.loads(store.read_text()) if store.exists() else {}


def save_cells(store: Path, cells: Cells) -> None:
    """Write the cells atomically: an interrupted save leaves the previous file whole."""
    from jaxrl.runlog import atomic_write

    text = json.dumps(cells, indent=1) + "\n"
    atomic_write(store, lambda p: p.write_text(text))


def accumulate(
    store: Path, jobs: Iterable[tuple[str, Callable[[], dict[str, Any]]]], write: Callable[[Cells], None]
) -> None:
    """Run each ``(key, job)``, storing the cell it returns under ``key`` among those in
    ``store`` (added or replaced), then saving them all and calling ``write(cells)`` (the table
    and plots), cell by cell."""
    for key, job in jobs:
        cell = job()
        cells = {**load_cells(store), key: cell}
        save_cells(store, cells)
        write(cells)
