"""`python -m recommend`: every sub-command answers one query from an artifact built earlier
(`--from DIR`) as it does right after building; only the chosen command is imported; user
errors are one line, bugs keep their traceback."""
from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest

from recommend import cli
from recommend.cli import main, parser
from recommend.similar_movies import model as movies_model
from tests.helpers import ROOT

SUPERSTORE = ROOT / "data" / "superstore" / "superstore_sample.csv"

# (sub-command, flags that build, the query flag and value)
COMMANDS = [
    ("rules", [], ("--item", "pasta")),
    ("similar-movies", [], ("--title", "toy story")),
    ("similar-customers", ["-k", "5"], ("--customer", "13047")),
    ("similar-products", ["--orders", str(SUPERSTORE), "--order-col", "Order ID", "--item-col", "Product ID",
                          "--name-col", "Product Name"], ("--item", "OFF-PA-10001970")),
]


def answer_lines(out: str) -> list[str]:
    """What a command printed about the query (not the build summary)."""
    return [line for line in out.splitlines() if not line.startswith(("Wrote", "Shown next to", "  (no --category", "  same "))
            and "baskets," not in line]


@pytest.mark.parametrize("command, build, query", COMMANDS, ids=[c[0] for c in COMMANDS])
def test_from_answers_as_the_build_does(command, build, query, tmp_path, capsys):
    out = tmp_path / "artifact"
    assert cli.main([command, *build, "--out", str(out), *query]) == 0
    built = answer_lines(capsys.readouterr().out)
    assert (out / "manifest.json").is_file() and built
    assert cli.main([command, "--from", str(out), *query]) == 0
    assert answer_lines(capsys.readouterr().out) == built


@pytest.mark.parametrize("command", [c[0] for c in COMMANDS])
def test_from_without_a_query_is_one_line(command, tmp_path, capsys):
    assert cli.main([command, "--from", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --from") and "\n" not in err


def test_from_a_folder_that_holds_nothing_names_the_rebuild_command(tmp_path, capsys):
    assert cli.main(["similar-movies", "--from", str(tmp_path / "none"), "--title", "toy"]) == 2
    err = capsys.readouterr().err
    assert "python -m recommend similar-movies" in err and "Traceback" not in err


def test_a_bug_is_not_reported_as_a_user_error(monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("a bug, not a user mistake")

    monkeypatch.setattr(movies_model, "build", broken)
    with pytest.raises(RuntimeError, match="a bug"):
        cli.main(["similar-movies", "--title", "toy story"])


def test_help_and_one_command_import_only_what_they_need():
    probe = (
        "import sys\n"
        "from recommend import cli\n"
        "try:\n    cli.main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in ('pandas', 'numba', 'recommend.rules', 'recommend.similar_movies',"
        " 'recommend.similar_products', 'recommend.similar_customers') if m in sys.modules))\n"
    )

    def loaded(*argv) -> str:
        done = subprocess.run([sys.executable, "-c", probe, *argv], cwd=ROOT, capture_output=True, text=True,
                              timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip().splitlines()[-1]

    assert loaded("--help") == "[]"
    assert loaded("rules", "--help") == "['pandas', 'recommend.rules']"


def test_the_similar_products_answer_finds_a_product_by_name(tmp_path, capsys):
    out = tmp_path / "sp"
    lines = pd.DataFrame({"order": ["1", "1", "2", "2"], "item": ["A", "B", "A", "C"],
                          "name": ["Red Lantern", "Blue Mug", "Red Lantern", "Tea"]})
    lines.to_csv(tmp_path / "orders.csv", index=False)
    assert cli.main(["similar-products", "--orders", str(tmp_path / "orders.csv"), "--order-col", "order",
                     "--item-col", "item", "--name-col", "name", "--out", str(out)]) == 0
    capsys.readouterr()
    assert cli.main(["similar-products", "--from", str(out), "--item", "lantern"]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("Similar to Red Lantern (A):") and "Blue Mug" in printed and "Tea" in printed


def test_a_damaged_artifact_names_the_exact_command_that_built_it(tmp_path, capsys):
    out = tmp_path / "movies"
    assert cli.main(["similar-movies", "-k", "5", "--min-ratings", "20", "--out", str(out)]) == 0
    (out / "similar_movies.csv").write_text("movieId,rank\n", encoding="utf-8")
    assert cli.main(["similar-movies", "--from", str(out), "--title", "toy story"]) == 2
    err = capsys.readouterr().err
    assert f"`python -m recommend similar-movies -k 5 --min-ratings 20 --out {out}`" in err, err


ORDER_COMMANDS = ("rules", "similar-products", "similar-customers", "build", "evaluate")


def test_every_command_that_reads_orders_takes_the_same_column_flags():
    from recommend.core.order_columns import FLAGS

    for command in ORDER_COMMANDS:
        sub = next(a for a in parser([command])._actions if a.dest == "command").choices[command]
        flags = {o for a in sub._actions for o in a.option_strings if o.endswith("-col")}
        assert set(FLAGS.values()) <= flags, (command, set(FLAGS.values()) - flags)


def test_a_column_flag_a_command_does_not_use_is_said_and_ignored(tmp_path, capsys):
    orders = tmp_path / "orders.csv"
    orders.write_text("order,item,when\n1,a,2024-01-01\n1,b,2024-01-02\n2,a,2024-01-03\n2,b,2024-01-03\n",
                      encoding="utf-8")
    assert main(["rules", "--orders", str(orders), "--date-col", "when", "--min-support", "0.5", "--min-lift", "0",
                 "--out", str(tmp_path / "rules")]) == 0
    assert "note: --date-col not used by this command; ignored." in capsys.readouterr().err
