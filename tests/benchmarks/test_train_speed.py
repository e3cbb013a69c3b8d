"""benchmarks/train_speed.py on a toy task: a timed point and a sized-only point, each written to
the table as soon as it is measured."""

from benchmarks import train_speed


def test_sweep_writes_a_timed_and_a_sized_point_with_their_memory(tmp_path, capsys):
    out = tmp_path / "sweep.md"
    argv = ["--env", "toy/pointmass", "--num-envs", "8", "16", "--iterations", "1", "--chunks", "1"]
    train_speed.main([*argv, "--time-up-to", "8", "--out", str(out)])
    rows = [line.split("|")[1:-1] for line in out.read_text().splitlines() if line.startswith("| toy")]
    timed, sized = ([cell.strip() for cell in row] for row in rows)
    assert (timed[3], sized[3]) == ("8", "16")
    assert float(timed[5].replace(",", "")) > 0 and sized[5] == "(memory only)"
    assert float(sized[7].replace(",", "")) > float(timed[7].replace(",", "")) > 0  # compiled MiB
    assert float(timed[9].replace(",", "")) > 0  # measured peak: the resident set on CPU
    assert "Command: `python -m benchmarks.train_speed" in capsys.readouterr().out
    redrawn = [(r["num_envs"], r["sps"] is None) for r in train_speed.rows_from_markdown(out.read_text())]
    assert redrawn == [(8, False), (16, True)]  # what --redraw plots
