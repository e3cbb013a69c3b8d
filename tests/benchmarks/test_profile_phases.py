"""benchmarks/profile_phases.py on a toy task: every phase is timed and tabled, and the gradient
steps' arithmetic is set against the machine's matmul rate."""

from benchmarks import profile_phases


def test_profile_times_every_phase_and_prints_the_table(capsys):
    profile_phases.main(
        ["--env", "toy/pointmass", "--num-envs", "8", "--networks", "small", "--repeats", "3"]
        + ["--minibatch-unit", "transition"]
    )
    out = capsys.readouterr().out
    rows = {line.split("|")[1].strip(): line for line in out.splitlines() if line.startswith("| ")}
    phases = ("rollout", "observation statistics", "advantages", "SGD (update - advantages)")
    for phase in (*phases, "of which: minibatch indices (all epochs)"):
        assert phase in rows
    assert "steps/s" in rows["whole iteration"]
    assert "Command: `python -m benchmarks.profile_phases" in out
    arithmetic = next(line for line in out.splitlines() if line.startswith("Gradient steps:"))
    share = float(arithmetic.split("SGD phase runs at ")[1].split("%")[0])
    assert share > 0


def test_dense_multiply_adds_counts_every_layer_once():
    assert profile_phases.dense_multiply_adds((5, 256, 256, 1)) == 5 * 256 + 256 * 256 + 256


def test_another_learner_is_profiled_with_its_loss_and_gradient_on_one_minibatch(capsys):
    profile_phases.main(
        ["--env", "toy/pointmass", "--num-envs", "8", "--networks", "small", "--repeats", "3"]
        + ["--minibatch-unit", "transition", "--algo", "dppo", "--chain-steps", "2"]
    )
    out = capsys.readouterr().out
    assert "dppo K=2:" in out and "steps/s" in out
    line = next(line for line in out.splitlines() if line.startswith("One minibatch: the loss "))
    assert float(line.split("the loss ")[1].split(" ms")[0]) > 0
