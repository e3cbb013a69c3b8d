"""The rule every script keeps for bad input, as the tests check it: one line on stderr and exit
code 2 (the script run in this process, through its ``main(argv)``)."""

import pytest


def refusal(capsys, script, argv: list[str]) -> str:
    """The one line on stderr of ``script.main(argv)``, which must exit with code 2."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit:
        script.main(argv)
    lines = capsys.readouterr().err.strip().splitlines()
    assert exit.value.code == 2 and len(lines) == 1, lines
    return lines[0]
