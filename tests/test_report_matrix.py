"""artrl.report_matrix: the cross-data-set matrix arranged from W2 and FID cell files."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from artrl.report import ReportError
from artrl.report_matrix import load_cell, load_cells, main, matrix_markdown, matrix_table


def _w2(root: Path, dataset: str, name: str, K: int, w2: float) -> str:
    p = root / "metrics" / dataset / name / f"K{K}.json"
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps({"K": K, "w2_exact": w2, "solver": "euler", "dataset": dataset}))
    return str(p)


def _fid(root: Path, dataset: str, name: str, K: int, fid: float) -> str:
    p = root / "fid" / dataset / "heun" / name / f"K{K}.json"
    p.parent.mkdir(parents=True, exist_ok=True)
    meta = {"fid": fid, "K": K, "nfe": 2 * K - 1, "solver": "heun", "dataset": dataset}
    p.write_text(json.dumps(meta))
    return str(p)


@pytest.fixture
def entries(tmp_path) -> list[str]:
    """Two targets (a Gaussian by W2, digits by FID), ART-RL made on each, and a baseline."""
    e = []
    for K, (own, other) in {2: (0.3, 0.6), 5: (0.1, 0.4)}.items():
        e.append(f"ART-RL|g|g={_w2(tmp_path, 'gx', 'art_rl_own', K, own)}")
        e.append(f"ART-RL|d|g={_w2(tmp_path, 'gx', 'art_rl_from_d', K, other)}")
    for K, (own, other) in {3: (2.0, 8.0), 5: (0.5, 0.5)}.items():
        e.append(f"ART-RL|d|d={_fid(tmp_path, 'digits', 'art_rl', K, own)}")
        e.append(f"ART-RL|g|d={_fid(tmp_path, 'digits', 'art_rl_from_g', K, other)}")
        e.append(f"EDM|none|d={_fid(tmp_path, 'digits', 'edm', K, 3.0)}")
    return e


def test_cells_read_metric_and_budget_from_the_files(entries):
    cells = load_cells(entries)
    w2 = [c for c in cells if c.target == "g"]
    fid = [c for c in cells if c.target == "d"]
    assert {c.metric for c in w2} == {"W2"} and {c.budget for c in w2} == {2, 5}
    assert {c.metric for c in fid} == {"FID"} and {c.budget for c in fid} == {5, 9}  # NFE
    assert {c.schedule for c in fid} == {"art_rl", "art_rl_from_g", "edm"}


def test_ratio_is_value_over_the_diagonal_at_the_same_budget(entries):
    df = matrix_table(load_cells(entries), {"config_digest": "abc", "seed": 0})
    by = {(r.row, r.made_on, r.target, r.K): r for r in df.itertuples()}
    assert by["ART-RL", "d", "g", 2].ratio == pytest.approx(0.6 / 0.3, rel=1e-15)
    assert by["ART-RL", "d", "g", 5].ratio == pytest.approx(0.4 / 0.1, rel=1e-15)
    assert by["ART-RL", "g", "d", 3].ratio == pytest.approx(8.0 / 2.0, rel=1e-15)
    assert by["ART-RL", "g", "d", 5].ratio == 1.0
    assert by["ART-RL", "g", "g", 2].ratio == 1.0  # the diagonal itself
    assert math.isnan(by["EDM", "none", "d", 3].ratio)  # no diagonal for a fixed baseline
    assert set(df["config_digest"]) == {"abc"} and "code_version" in df.columns


def test_markdown_has_a_section_per_target_and_the_summary(entries):
    df = matrix_table(load_cells(entries))
    md = matrix_markdown(df, {"g": "1-D Gaussian", "d": "digits 8×8"})
    assert "## Evaluated on 1-D Gaussian (W2, euler)" in md
    assert "## Evaluated on digits 8×8 (FID, heun)" in md
    assert "| method | made on | K 2 | K 5 |" in md
    assert "| method | made on | NFE 5 | NFE 9 |" in md
    assert "| ART-RL | digits 8×8 | 0.600 (×2.00) | 0.400 (×4.00) |" in md
    # summary: geometric mean of the ratios over the budgets, e.g. sqrt(2 * 4) made on d, on g
    summary = md[md.index("## Summary") :]
    assert f"| ART-RL | digits 8×8 | {math.sqrt(8.0):.2f} | 1 |" in summary
    assert f"| ART-RL | 1-D Gaussian | 1 | {math.sqrt(4.0):.2f} |" in summary
    assert "EDM" not in summary


def test_compare_to_takes_the_diagonal_of_another_row(tmp_path, entries):
    """A variant transfer ("ART-RL (log)", made on g, only evaluated on d) has no diagonal of its
    own: with compare_to its ratios divide by ART-RL's diagonal on d; without, they are NaN."""
    log = [
        f"ART-RL (log)|g|d={_fid(tmp_path, 'digits', 'art_rl_from_g_log', K, v)}"
        for K, v in {3: 3.0, 5: 1.5}.items()
    ]
    cells = load_cells(entries + log)
    plain = matrix_table(cells)
    assert plain[plain["row"] == "ART-RL (log)"]["ratio"].isna().all()
    df = matrix_table(cells, compare_to={"ART-RL (log)": "ART-RL"})
    by = {(r.row, r.K): r for r in df.itertuples() if r.target == "d"}
    assert by["ART-RL (log)", 3].ratio == pytest.approx(3.0 / 2.0, rel=1e-15)
    assert by["ART-RL (log)", 5].ratio == pytest.approx(1.5 / 0.5, rel=1e-15)
    assert by["ART-RL (log)", 3].own == 2.0
    md = matrix_markdown(df, {"g": "G", "d": "D"}, compare_to={"ART-RL (log)": "ART-RL"})
    assert "| ART-RL (log) | G | 3.00 (×1.50) | 1.50 (×3.00) |" in md
    summary = md[md.index("## Summary") :]
    assert f"| ART-RL (log) | G |  | {math.sqrt(1.5 * 3.0):.2f} |" in summary
    with pytest.raises(ReportError, match="no cells of row 'ART-RX'"):
        matrix_table(cells, compare_to={"ART-RL (log)": "ART-RX"})


def test_errors_name_the_entry(tmp_path, entries):
    with pytest.raises(ReportError, match="ROW\\|MADE_ON\\|TARGET=PATH"):
        load_cell("ART-RL|g=" + entries[0].split("=", 1)[1])
    with pytest.raises(ReportError, match="already read"):
        load_cells([entries[0], entries[0]])
    mixed = f"ART-RL|d|g={_fid(tmp_path, 'gx2', 'x', 3, 1.0)}"
    with pytest.raises(ReportError, match="mixes metrics"):
        load_cells([entries[0], mixed])
    junk = tmp_path / "junk" / "K1.json"
    junk.parent.mkdir()
    junk.write_text(json.dumps({"K": 1}))
    with pytest.raises(ReportError, match="neither a W2"):
        load_cell(f"a|b|c={junk}")
    with pytest.raises(ReportError, match="missing.json"):
        load_cell(f"a|b|c={tmp_path / 'missing.json'}")


def test_cli_writes_csv_and_markdown(tmp_path, entries, capsys):
    out = tmp_path / "tables" / "cross.csv"
    main(["--cell", *entries, "--labels-json", '{"g": "Gauss"}', "--seed", "0", "--out", str(out)])
    df = pd.read_csv(out)
    assert len(df) == len(entries)
    assert (tmp_path / "tables" / "cross.md").read_text().startswith("# Cross-data-set matrix")
    with pytest.raises(SystemExit) as e:
        main(["--cell", *entries, "--compare-json", "[]", "--out", str(tmp_path / "y.csv")])
    assert e.value.code == 2 and "--compare-json must be a JSON object" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["--cell", "bad", "--out", str(tmp_path / "x.csv")])
    assert e.value.code == 2 and not (tmp_path / "x.csv").exists()
    assert "ROW|MADE_ON|TARGET=PATH" in capsys.readouterr().err


def test_module_help_runs_as_a_program():
    import subprocess
    import sys

    r = subprocess.run(
        [sys.executable, "-m", "artrl.report_matrix", "--help"], capture_output=True, text=True
    )
    assert r.returncode == 0 and "ROW|MADE_ON|TARGET=PATH" in r.stdout
