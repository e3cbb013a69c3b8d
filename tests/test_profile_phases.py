"""benchmarks/profile_phases.py on a toy task: every phase is timed and tabled."""

from benchmarks import profile_phases


def test_profile_times_every_phase_and_prints_the_table(capsys):
    profile_phases.main(
        ["--env", "toy/pointmass", "--num-envs", "8", "--networks", "small", "--repeats", "3"]
    )
    out = capsys.readouterr().out
    rows = {line.split("|")[1].strip(): line for line in out.splitlines() if line.startswith("| ")}
    for phase in ("rollout", "observation statistics", "advantages", "SGD (update - advantages)"):
        assert phase in rows
    assert "steps/s" in rows["whole iteration"]
    assert "Command: `python -m benchmarks.profile_phases" in out
