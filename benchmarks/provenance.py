"""What every benchmark records next to its figures: the machine, the commit and the command.

Taken once at launch (the code that runs is the code imported then); :func:`report` prints and
writes a table with them under it, and :func:`provenance_lines` lists them per row of a table
whose rows accumulate. Also the ``KEY=VALUE`` parser the benchmark scripts share for
their ``--set`` style flags, and the writers' rule for their destination: :func:`check_out` refuses
one that cannot be written before anything compiles (one line, exit 2), and
:func:`write_errors_in_one_line` ends a script whose write fails (a full disk) with one line and
exit 1. Nothing here measures.
"""

from __future__ import annotations

import functools
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from experiments.cli import fail


def check_out(out: Path | None, folder: bool = False, flag: str = "--out") -> None:
    """Exit 2 with one line, before anything compiles, unless ``out`` (a file, or a folder of
    results when ``folder``) can be written there (:func:`jaxrl.runlog.check_writable`)."""
    if out is None:
        return
    from jaxrl.config import ConfigError
    from jaxrl.runlog import check_writable

    try:
        check_writable(out if folder else out.parent)
    except ConfigError as error:
        fail(f"{flag}={out}: {error}")


def write_errors_in_one_line(main: Callable[..., None]) -> Callable[..., None]:
    """``main``, ending with one line on stderr and exit code 1 when a write fails (a full
    disk, a quota, a permission changed): what was written before stays as it was."""

    @functools.wraps(main)
    def wrapped(*args: Any, **kwargs: Any) -> None:
        from jaxrl.runlog import RunWriteError, cause

        try:
            main(*args, **kwargs)
        except RunWriteError as error:
            fail(str(error), code=1)
        except OSError as error:
            where = f"writing {error.filename} failed" if error.filename else "a write failed"
            fail(f"{where}: {cause(error)}", code=1)

    return wrapped


def parse_assignments(items: list[str], flag: str) -> dict[str, Any]:
    """``KEY=VALUE`` pairs; values parsed as JSON where they are JSON (numbers, true/false)."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            fail(f"{flag} {item!r} is not KEY=VALUE")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def learner_spec(spec: str, flag: str = "--algos") -> tuple[str, dict[str, Any]]:
    """``ALGO[:FIELD=VALUE...]`` -> the algo and its overrides (JSON lists become tuples)."""
    algo, *assignments = spec.split(":")
    return algo, sized(parse_assignments(assignments, flag))


def spec_folder(spec: str) -> str:
    """A learner spec as a file name: ``policyflow:action_scale=1`` -> ``policyflow_action_scale-1``."""
    return spec.replace(":", "_").replace("=", "-")


def sized(values: dict[str, Any]) -> dict[str, Any]:
    """JSON lists as the tuples the config's layer widths and stage lengths are."""
    return {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}


def machine() -> str:
    import jax

    device = jax.devices()[0]
    kind = device.device_kind if device.platform != "cpu" else platform.processor() or platform.machine()
    return f"{device.platform} ({kind}), {os.cpu_count()} CPU cores, JAX {jax.__version__}"


def commit() -> str:
    """The checkout's short commit (``-dirty`` with code changes); ``$JAXRL_COMMIT`` names it
    where the code runs from a copy of the tree without git's history (a remote machine)."""
    if os.environ.get("JAXRL_COMMIT"):
        return os.environ["JAXRL_COMMIT"]
    root = Path(__file__).resolve().parents[1]
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(  # results being written do not make the code dirty
            ["git", "status", "--porcelain", "--", ".", ":!benchmarks/results"],
            cwd=root,
            capture_output=True,
            text=True,
        ).stdout
        return head + ("-dirty" if dirty.strip() else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def provenance(module: str, argv: list[str] | None) -> dict[str, str]:
    """Machine, commit, the command that reproduces this run (``python -m module ...``), date."""
    return {
        "machine": machine(),
        "commit": commit(),
        "command": f"python -m {module} " + shlex.join(sys.argv[1:] if argv is None else argv),
        "started": time.strftime("%Y-%m-%d %H:%M"),
    }


def provenance_lines(
    rows: Iterable[tuple[str, Mapping[str, Any]]], detail: Callable[[Mapping[str, Any]], str] | None = None
) -> list[str]:
    """A results table's ``## Provenance`` section: per named row, its machine, commit, the
    ``detail`` it adds (a date, a wall time) and the command that measured it."""
    lines = ["", "## Provenance", ""]
    for name, row in rows:
        parts = [
            row["machine"],
            f"commit {row['commit']}",
            *([detail(row)] if detail else []),
            f"`{row['command']}`",
        ]
        lines.append(f"- {name}: " + "; ".join(parts))
    return lines


def report(lines: list[str], launch: dict[str, Any], title: str, out: Path | None, echo: bool = True) -> None:
    """Print a benchmark's markdown ``lines`` with the launch's machine, commit and command under
    them (unless ``echo`` is false), and write the same under ``# title`` to ``out``
    (atomically) when given."""
    lines = [
        *lines,
        f"Machine: {launch['machine']}; commit {launch['commit']}; {launch['started']}.",
        f"Command: `{launch['command']}`",
        "",
    ]
    if echo:
        print("\n".join(lines))
    if out is not None:
        from jaxrl.runlog import atomic_write

        atomic_write(out, lambda p: p.write_text(f"# {title}\n\n" + "\n".join(lines)))
