"""The learning-rate sweep runs every rate's seeds in one program and reports each rate apart."""

import pytest

from benchmarks import lr_sweep


def test_a_tiny_sweep_reports_each_learning_rate_with_its_seeds(tmp_path):
    out = tmp_path / "sweep.md"
    lr_sweep.main(
        [
            "--algo",
            "ppo",
            "--env",
            "toy/pointmass",
            "--total-steps",
            "2000",
            "--learning-rates",
            "1e-3",
            "3e-3",
        ]
        + ["--seeds", "2", "--num-evals", "1", "--set", "num_envs=8", "num_unrolls=1", "unroll_length=8"]
        + ["num_minibatches=2", "update_epochs=1", "--out", str(out)]
    )
    text = out.read_text()
    rows = [line for line in text.splitlines() if line.startswith("| 0.00")]
    assert [row.split("|")[1].strip() for row in rows] == ["0.001", "0.003"]
    assert all(len(row.split("|")[3].split(",")) == 2 for row in rows)  # two seeds each
    assert "Command: `python -m benchmarks.lr_sweep" in text and out.with_suffix(".png").exists()


def test_a_learner_that_sets_its_own_learning_rate_is_refused_in_one_line(capsys):
    with pytest.raises(SystemExit):
        lr_sweep.main(["--algo", "ppo:learning_rate=0.001", "--learning-rates", "1e-3"])
    assert "--algo ppo:learning_rate=0.001 sets learning_rate" in capsys.readouterr().err
