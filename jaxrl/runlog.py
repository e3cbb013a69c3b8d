"""The run folder: ``config.json``, ``metrics.jsonl`` (one object per evaluation) and a
learning-curve PNG, each written so that a crash cannot corrupt what was there before
(whole-file writes go to a temporary file that is renamed; metric lines are appended and
flushed, after cutting off a line a crash left half-written). A config.json that cannot be
read is a :class:`~jaxrl.config.ConfigError` naming the file. :func:`check_writable` finds a
folder that cannot be created or written (a file in the way, no permission, a read-only
filesystem) before anything compiles; a write that fails during a run (a full disk, a quota, a
permission changed under it) is :class:`RunWriteError`, one line naming the folder and the
cause, and leaves no half-written file behind (a half metrics line is cut, a temporary file
removed). Plotting draws on a bare
matplotlib ``Figure``, never through pyplot, so it needs no display and leaves the caller's
backend alone. Nothing here touches JAX.
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from jaxrl.config import ConfigError

CONFIG_FILE, METRICS_FILE, CURVE_FILE = "config.json", "metrics.jsonl", "learning_curve.png"


class RunWriteError(RuntimeError):
    """Writing a run folder failed during a run (no space left, a quota, a permission changed):
    the message is one line naming the folder and the cause; what was written before stays
    readable and a resume continues from the latest complete checkpoint."""


def cause(error: OSError) -> str:
    """An OSError's cause in words: 'no space left on device', 'read-only file system', ..."""
    return os.strerror(error.errno).lower() if error.errno else str(error)


def check_writable(folder: str | Path) -> None:
    """ConfigError, one line naming ``folder`` and the cause, unless ``folder`` is a folder that
    can be written or can be created: the nearest existing ancestor must be a folder this
    process may write, which a temporary file created and removed there proves (permissions
    alone do not: root passes them, and a read-only filesystem grants them). Leaves nothing."""
    folder = Path(folder)
    existing = next(p for p in (folder.absolute(), *folder.absolute().parents) if os.path.lexists(p))
    where = "" if existing == folder.absolute() else f" ({existing})"
    if not existing.is_dir():
        problem = "a broken link" if not existing.exists() else "a file, not a folder"
        raise ConfigError(f"{folder} cannot be written: {existing} is {problem}")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f"{folder} cannot be written: {os.strerror(errno.EACCES).lower()}{where}")
    try:
        descriptor, probe = tempfile.mkstemp(prefix=".jaxrl-probe-", dir=existing)
    except OSError as error:
        raise ConfigError(f"{folder} cannot be written: {cause(error)}{where}") from None
    os.close(descriptor)
    os.unlink(probe)


@contextlib.contextmanager
def writing(run_dir: Path) -> Iterator[None]:
    """Turn an OSError of the block (a write to ``run_dir``) into :class:`RunWriteError`."""
    try:
        yield
    except OSError as error:
        raise RunWriteError(f"writing {run_dir} failed: {cause(error)}") from error


def atomic_write(path: Path, write) -> None:
    """``write(temporary_path)``, then rename over ``path``: readers see the old or the new file,
    and a write that fails leaves no temporary file."""
    temporary = path.with_name(f".{path.name}.tmp")
    try:
        write(temporary)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_config(run_dir: Path, config: dict[str, Any]) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write(run_dir / CONFIG_FILE, lambda p: p.write_text(json.dumps(config, indent=2) + "\n"))


def read_config(run_dir: Path) -> dict[str, Any]:
    """The stored config as a dict; ConfigError, one line naming the file, if it cannot be read."""
    path = run_dir / CONFIG_FILE
    try:
        values = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ConfigError(f"{path} is not valid JSON ({error}): the file is corrupt or truncated") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path} cannot be read: {error}") from None
    if not isinstance(values, dict):
        raise ConfigError(f"{path} holds a JSON {type(values).__name__}, not a config object")
    return values


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def append_metrics(run_dir: Path, record: dict[str, Any]) -> None:
    """Append one line, after cutting off a trailing line that a crash left unfinished; a write
    that fails (a full disk) cuts off what it wrote of the line."""
    line = json.dumps({k: _finite(v) for k, v in record.items()}) + "\n"
    with open(run_dir / METRICS_FILE, "ab+", buffering=0) as f:
        f.seek(0)
        text = f.read()
        end = text.rfind(b"\n") + 1
        if len(text) > end:
            f.truncate(end)
        data = line.encode()
        try:
            while data:
                data = data[f.write(data) :]
            os.fsync(f.fileno())
        except OSError:
            with contextlib.suppress(OSError):
                f.truncate(end)
            raise


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    path = run_dir / METRICS_FILE
    if not path.exists():
        return []
    records = []
    for line in path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:  # a line cut short by a crash
            continue
    return records


def keep_metrics_until(run_dir: Path, env_steps: int) -> None:
    """Drop records past ``env_steps`` (written after the checkpoint a resume starts from) and
    any line a crash cut short, in one atomic rewrite."""
    records = [r for r in read_metrics(run_dir) if r["env_steps"] <= env_steps]
    text = "".join(json.dumps(r) + "\n" for r in records)
    atomic_write(run_dir / METRICS_FILE, lambda p: p.write_text(text))


def clear_outputs(run_dir: Path) -> None:
    """Remove the metrics and learning curve of a run that starts over from its first step."""
    for name in (METRICS_FILE, CURVE_FILE):
        (run_dir / name).unlink(missing_ok=True)


def plot_learning_curve(run_dir: Path, records: list[dict[str, Any]], title: str) -> None:
    plot_curves(run_dir / CURVE_FILE, {"eval return (mean)": records}, title)


def plot_curves(
    path: Path,
    series: dict[str, list[dict[str, Any]]],
    title: str,
    colours: dict[str, Any] | None = None,
    styles: dict[str, str] | None = None,
) -> None:
    """Evaluation return against environment steps and wall time, one colour per series: each
    seed faint, their mean bold. The legend goes below the axes, in as many rows as it needs,
    so it never covers a curve or squeezes the axes; keep the labels short."""
    from matplotlib.figure import Figure  # no pyplot: no global backend or figure state

    series = {label: records for label, records in series.items() if records}
    if not series:
        return
    names = [wrapped(label) for label in series]
    columns = legend_columns(names)
    legend_rows = math.ceil(len(names) / columns) * max(name.count("\n") + 1 for name in names)
    fig = Figure(figsize=(11, 4.2 + 0.22 * legend_rows), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    draw_curves(axes, series, colours, styles)
    handles, labels = axes[0].get_legend_handles_labels()
    legend = dict(loc="outside lower center", ncol=columns, fontsize="small", frameon=False, handlelength=4)
    fig.legend(handles, labels, **legend)
    fig.suptitle(title)
    atomic_write(path, lambda p: fig.savefig(p, dpi=100, format="png"))


def legend_columns(labels: list[str], width: int = 150) -> int:
    """How many legend entries fit side by side in about ``width`` characters of figure."""
    longest = max(len(line) for label in labels for line in label.split("\n"))
    return max(1, min(len(labels), width // (longest + 8)))


def draw_curves(
    axes: Any,
    series: dict[str, list[dict[str, Any]]],
    colours: dict[str, Any] | None = None,
    styles: dict[str, str] | None = None,
) -> None:
    """Onto a pair of axes: evaluation return against environment steps and against wall time,
    one colour per series (``colours[label]``, else the next of 10 colours, or of 20 for more
    series) and line style (``styles[label]``, else solid): each seed faint (fainter among many
    series), their mean bold, labelled (long labels wrapped) for a legend."""
    from matplotlib import colormaps

    palette = colormaps["tab10" if len(series) <= 10 else "tab20"]
    faint = 0.3 if len(series) <= 6 else 0.15
    for index, (label, records) in enumerate(series.items()):
        colour = (colours or {}).get(label, palette(index % palette.N))
        style = (styles or {}).get(label, "-")
        per_seed = [r.get("eval_return_per_seed") or [r["eval_return"]] for r in records]
        for axis, key in ((axes[0], "env_steps"), (axes[1], "wall_time")):
            x = [r[key] for r in records]
            for seed in range(len(per_seed[0])):
                axis.plot(x, [p[seed] for p in per_seed], color=colour, ls=style, alpha=faint, lw=1)
            mean = [r["eval_return"] for r in records]
            hollow = {} if style == "-" else {"markerfacecolor": "white"}  # dashed or dotted: hollow
            axis.plot(x, mean, color=colour, ls=style, lw=2, marker="o", ms=4, label=wrapped(label), **hollow)
    for axis, label in ((axes[0], "environment steps"), (axes[1], "wall time (s)")):
        axis.set_xlabel(label)
        axis.grid(alpha=0.3)
    axes[0].set_ylabel("episode return")


def wrapped(label: str, width: int = 36) -> str:
    """A legend label in lines of about ``width`` characters, broken after its ``:``s (as in a
    learner named ``ALGO:FIELD=VALUE:...``)."""
    lines: list[str] = []
    for part in label.split(":"):
        if lines and len(lines[-1]) + 1 + len(part) <= width:
            lines[-1] += ":" + part
        else:
            if lines:
                lines[-1] += ":"
            lines.append(part)
    return "\n".join(lines)
