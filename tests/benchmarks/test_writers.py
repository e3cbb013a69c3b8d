"""The benchmarks' writers refuse a destination that cannot be written before anything compiles
(one line, exit 2, nothing left behind), and end with one line and exit 1 when a write fails."""

import errno
import json
import os

import pytest

from benchmarks import (
    brax_side_by_side,
    learning_table,
    lr_sweep,
    multigoal6_scale,
    multimodality,
    policyflow_modes,
    profile_phases,
    provenance,
    scaling_recipe,
    train_speed,
)
from tests.oneline import refusal

WRITERS = {
    "brax_side_by_side": (brax_side_by_side, "table.md"),
    "learning_table": (learning_table, "results"),
    "lr_sweep": (lr_sweep, "sweep.md"),
    "multigoal6_scale": (multigoal6_scale, "results"),
    "multimodality": (multimodality, "results"),
    "policyflow_modes": (policyflow_modes, "results"),
    "profile_phases": (profile_phases, "phases.md"),
    "scaling_recipe": (scaling_recipe, "results"),
    "train_speed": (train_speed, "speed.md"),
}


@pytest.mark.parametrize("name", WRITERS)
def test_an_out_under_a_file_is_refused_with_one_line(tmp_path, capsys, name):
    script, out = WRITERS[name]
    (tmp_path / "notes").write_text("mine")
    required = ["--label", "x"] if script is policyflow_modes else []
    line = refusal(capsys, script, [*required, "--out", str(tmp_path / "notes" / out)])
    assert line.startswith(f"error: --out={tmp_path}/notes/{out}: ") and line.endswith(
        f"{tmp_path}/notes is a file, not a folder"
    )
    assert sorted(os.listdir(tmp_path)) == ["notes"]


def test_a_write_that_fails_ends_with_one_line_and_exit_1(capsys):
    @provenance.write_errors_in_one_line
    def main(argv=None):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "results/table.md")

    with pytest.raises(SystemExit) as exit:
        main([])
    assert exit.value.code == 1
    assert capsys.readouterr().err == "error: writing results/table.md failed: no space left on device\n"


def test_a_multimodality_table_refuses_rows_measured_with_other_settings(tmp_path, capsys):
    stored = {"ppo": {"settings": {"overrides": {"env": "toy/multigoal"}, "seeds": 3}}}
    (tmp_path / "table.json").write_text(json.dumps(stored))
    line = refusal(capsys, multimodality, ["--algos", "fpo", "--out", str(tmp_path), "--name", "table"])
    assert line.startswith("error: --name table holds rows measured with {'overrides'")
    assert line.endswith("give another --name")
    assert json.loads((tmp_path / "table.json").read_text()) == stored
