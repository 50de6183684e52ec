"""How a command-line run ends: a closed pipe is quiet, a user's error one line, a bug a traceback."""
from __future__ import annotations

import subprocess
import sys

import pytest

from common.cli import BROKEN_PIPE_STATUS, run
from common.errors import ArtifactError, InputError
from tests.helpers import ROOT


def test_output_into_a_closed_pipe_ends_quietly(tmp_path):
    # `python -m recommend rules ... | head -1`: the reader is gone before the command writes.
    proc = subprocess.Popen([sys.executable, "-m", "recommend", "rules", "--out", str(tmp_path / "r"),
                             "--item", "pasta"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(120) == BROKEN_PIPE_STATUS
    assert "Traceback" not in err and "BrokenPipe" not in err, err
    assert (tmp_path / "r" / "manifest.json").is_file()  # the work itself was done


@pytest.mark.parametrize("error", [InputError("the column 'x' is missing; name it with --x"),
                                   ArtifactError("rebuild it with `python -m recommend rules`")])
def test_user_errors_are_one_line_and_exit_2(error, capsys):
    def command():
        raise error

    assert run(command) == 2
    assert capsys.readouterr().err == f"error: {error}\n"


def test_ctrl_c_says_what_was_kept(capsys):
    def command():
        raise KeyboardInterrupt

    assert run(command, interrupted="Interrupted. Chunks are kept.") == 130
    assert capsys.readouterr().err == "Interrupted. Chunks are kept.\n"


def test_a_bug_keeps_its_traceback():
    def command():
        raise KeyError("a bug")

    with pytest.raises(KeyError, match="a bug"):
        run(command)
