"""Report outputs: single seeds without a spread, LaTeX tables, skipped runs with their reasons, empty folders."""

from __future__ import annotations

import csv
import io
import json

import pytest

from hicropl.errors import DataError
from hicropl.results import build_tables, find_runs, make_report
from hicropl.results.render import to_csv, to_json, to_markdown
from hicropl.results.render_latex import latex_escape, to_latex
from tests.results.run_folders import b2n_scores, write_run


def test_a_single_seed_shows_no_spread_in_any_format(tmp_path):
    write_run(tmp_path / "a", "coop", "EuroSAT", "base2novel", 1, b2n_scores("EuroSAT", 80.0, 60.0))
    tables = build_tables(find_runs([tmp_path])[0])
    row = next(line for line in to_markdown(tables).splitlines() if line.startswith("| EuroSAT"))
    assert row == "| EuroSAT | coop | 80.00 | 60.00 | 68.57 |"
    rows = list(csv.DictReader(io.StringIO(to_csv(tables))))
    assert {(r["mean"], r["std"], r["n"]) for r in rows if r["column"] == "Base"} == {("80.0000", "", "1")}
    cell = json.loads(to_json(tables))["tables"][0]["rows"][0]["cells"][0]
    assert cell == {"mean": 80.0, "std": None, "n": 1}


def test_latex_booktabs_escaped_with_the_best_in_bold(tmp_path):
    write_run(tmp_path / "a", "coop", "EuroSAT", "base2novel", 1, b2n_scores("EuroSAT", 80.0, 60.0))
    write_run(tmp_path / "b", "coop", "EuroSAT", "base2novel", 2, b2n_scores("EuroSAT", 82.0, 62.0))
    write_run(
        tmp_path / "c",
        "coop",
        "EuroSAT",
        "base2novel",
        1,
        b2n_scores("EuroSAT", 85.0, 50.0),
        label="coop_v2 100% & #1",
    )
    latex = to_latex(build_tables(find_runs([tmp_path])[0]), bold_best=True)
    lines = latex.splitlines()
    assert lines[1] == r"\begin{tabular}{llrrr}" and r"\toprule" in lines and r"\bottomrule" in lines
    assert r"coop\_v2 100\% \& \#1 & \textbf{85.00 (n=1)} & 50.00 (n=1)" in latex
    assert r"& coop & 81.00 $\pm$ 1.41 & \textbf{61.00 $\pm$ 1.41} &" in latex
    assert latex.count(r"\begin{tabular}") == 1 and latex.count(r"\end{tabular}") == 1
    plain = to_latex(build_tables(find_runs([tmp_path])[0]))
    assert r"\textbf" not in plain


def test_latex_escapes_every_special_character():
    assert latex_escape("a_b%c&d#e$f{g}h~i^j\\k") == (
        r"a\_b\%c\&d\#e\$f\{g\}h\textasciitilde{}i\textasciicircum{}j\textbackslash{}k"
    )


def test_report_writes_latex_and_lists_unfinished_runs_with_their_reasons(tmp_path, capsys):
    from hicropl.cli import main

    runs = tmp_path / "runs"
    write_run(runs / "done", "coop", "EuroSAT", "base2novel", 1, b2n_scores("EuroSAT", 80.0, 60.0))
    interrupted = runs / "interrupted"
    interrupted.mkdir()
    (interrupted / "config.yaml").write_text("seed: 1\n")
    (interrupted / "checkpoint.pt").write_bytes(b"")
    failed = runs / "failed"
    failed.mkdir()
    (failed / "config.yaml").write_text("seed: 2\n")
    state = {"state": "failed", "pid": 1, "host": "elsewhere", "updated": "2025-01-01T00:00:00Z", "command": "train"}
    state["error"] = "CUDA OOM"
    (failed / "run_state.json").write_text(json.dumps(state))

    code = main(["report", str(runs), "--output", str(tmp_path / "out"), "--format", "md", "latex"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert (tmp_path / "out" / "report.tex").read_text().startswith("% Base-to-novel")
    markdown = (tmp_path / "out" / "report.md").read_text()
    for text in (markdown, captured.err):
        assert f"{interrupted}: not finished (interrupted: checkpoint.pt without result.json)" in text
        assert f"{failed}: not finished (failed: CUDA OOM)" in text

    code = main(["report", str(runs), "--format", "latex"])
    assert code == 0 and capsys.readouterr().out.startswith("% Base-to-novel")


def test_an_empty_folder_is_an_error_that_says_where_it_looked(tmp_path, capsys):
    from hicropl.cli import main

    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="No run folders found in"):
        make_report([tmp_path / "empty"])
    code = main(["report", str(tmp_path / "empty"), str(tmp_path / "absent")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and str(tmp_path / "empty") in err and str(tmp_path / "absent") in err
