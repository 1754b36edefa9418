"""artrl.report: the W2 table writer and the figures, on hand-made inputs."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import artrl
from artrl.report import (
    PAPER_W2,
    PROVENANCE_COLUMNS,
    ReportError,
    code_version,
    git_describe,
    load_metrics,
    main,
    theta_figure,
    w2_figure,
    write_w2_table,
)
from artrl.schedules import Schedule, edm, uniform

REPO = Path(__file__).resolve().parents[1]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
KS = (2, 5, 100)
NAMES = ("uniform", "edm_t", "art_rl")
LABELS = {"uniform": "Uniform", "edm_t": "EDM-T (ρ=3)", "art_rl": "ART-RL"}


def _value(name: str, K: int, mc: bool = False) -> float:
    """A distinct, recognisable number per cell."""
    return 0.1 * (NAMES.index(name) + 1) + K * 0.001 + 1e-7 / 3 + (0.5 if mc else 0.0)


def _write_metrics(root, names=NAMES, ks=KS, art_cost=True):
    paths = []
    for name in names:
        for K in ks:
            p = root / "metrics" / "gauss1d" / name / f"K{K}.json"
            p.parent.mkdir(parents=True, exist_ok=True)
            d = {
                "method": "edm" if name == "edm_t" else name,
                "dataset": "gauss1d",
                "K": K,
                "solver": "euler",
                "w2_exact": _value(name, K),
                "w2_mc": _value(name, K, mc=True),
                "schedule_config_digest": f"dig-{name}",
            }
            if art_cost:
                d["art_cost"] = 10.0 * (NAMES.index(name) + 1) + K
            p.write_text(json.dumps(d))
            paths.append(str(p))
    return paths


def _is_png(path) -> bool:
    data = path.read_bytes()
    return data[:8] == PNG_MAGIC and len(data) > 1000


def test_table_values_land_in_the_right_cells(tmp_path):
    paths = _write_metrics(tmp_path)
    # shuffled input order: rows must follow the labels order, not the file order
    recs = load_metrics(list(reversed(paths)))
    csv, md = tmp_path / "t.csv", tmp_path / "t.md"
    prov = {"config_digest": "cfg123", "seed": 3, "code_version": "0.0+abc"}
    write_w2_table(recs, LABELS, out_csv=csv, out_md=md, prov=prov, paper=PAPER_W2)

    df = pd.read_csv(csv)
    assert list(df["name"]) == list(NAMES)
    assert list(df["label"]) == [LABELS[n] for n in NAMES]
    for _, row in df.iterrows():
        for K in KS:
            assert row[f"w2_K{K}"] == _value(row["name"], K)  # full precision round-trip
            assert row[f"w2_mc_K{K}"] == _value(row["name"], K, mc=True)
        assert row["art_cost_K100"] == 10.0 * (NAMES.index(row["name"]) + 1) + 100
        assert row["config_digest"] == "cfg123" and row["seed"] == 3
        assert row["code_version"] == "0.0+abc"
        assert row["schedule_config_digest"] == f"dig-{row['name']}"
    assert "art_cost_K2" not in df.columns

    text = md.read_text()
    # ours, 3 decimals
    assert "| Uniform | ours | 0.102 | 0.105 | 0.200 | 110.0000 |" in text
    assert "| ART-RL | ours | 0.302 | 0.305 | 0.400 | 130.0000 |" in text
    # the paper row right after ours, at the K's we have (2, 5, 100)
    lines = text.splitlines()
    i = lines.index(next(ln for ln in lines if ln.startswith("| Uniform | ours")))
    assert lines[i + 1].startswith("| Uniform | paper | 0.468 | 0.215 | 0.016 |")
    assert "| ART-RL | paper | 0.345 | 0.149 | 0.013 |" in text
    # paper rows we have no schedule for are still listed
    assert "| DPM | paper | 0.670 | 0.401 | 0.027 |" in text
    assert "| EDM (ρ=7) | paper | 0.664 | 0.319 | 0.023 |" in text
    assert "Monte-Carlo W2" in text and "| EDM-T (ρ=3) | 0.702 | 0.705 | 0.800 |" in text
    # provenance in a footer, after every table
    footer = text.rstrip().splitlines()[-1]
    assert footer == "Provenance: config digest `cfg123`; seed `3`; code version `0.0+abc`."
    assert text.count("cfg123") == 1


def test_table_without_paper_or_art_cost(tmp_path):
    paths = _write_metrics(tmp_path, names=("uniform",), ks=(2, 10), art_cost=False)
    csv, md = tmp_path / "t.csv", tmp_path / "t.md"
    write_w2_table(load_metrics(paths), {}, out_csv=csv, out_md=md)
    df = pd.read_csv(csv)
    assert df.loc[0, "label"] == "uniform"
    assert math.isnan(df.loc[0, "art_cost_K10"])
    # the provenance columns are there even when not given
    assert (df[list(PROVENANCE_COLUMNS)] == "unknown").all().all()
    assert "paper" not in md.read_text()


def test_explicit_names_and_duplicates(tmp_path):
    paths = _write_metrics(tmp_path, names=("uniform",), ks=(2,))
    recs = load_metrics([f"other={paths[0]}"])
    assert recs[0].name == "other"
    with pytest.raises(ReportError, match="already read"):
        load_metrics([paths[0], paths[0]])


def test_bad_metrics_file_names_it(tmp_path):
    p = tmp_path / "m" / "K2.json"
    p.parent.mkdir()
    p.write_text(json.dumps({"K": 2}))
    with pytest.raises(ReportError, match=r"K2\.json: missing key 'w2_exact'"):
        load_metrics([str(p)])


def test_cli_table_carries_version_and_commit(tmp_path):
    paths = _write_metrics(tmp_path)
    csv, md = tmp_path / "o" / "t.csv", tmp_path / "o" / "t.md"
    main(
        [
            "w2-table",
            "--metrics",
            *paths,
            "--labels-json",
            json.dumps(LABELS),
            "--paper",
            "gauss1d",
            "--config-digest",
            "d1",
            "--seed",
            "0",
            "--out-csv",
            str(csv),
            "--out-md",
            str(md),
        ]
    )
    df = pd.read_csv(csv, dtype={"code_version": str, "config_digest": str})
    assert list(df.columns[-3:]) == list(PROVENANCE_COLUMNS)
    assert (df["config_digest"] == "d1").all() and (df["seed"] == 0).all()
    # the package version plus `git describe --always --dirty` of this checkout
    described = git_describe()
    assert (df["code_version"] == f"{artrl.__version__}+{described or 'unknown'}").all()
    if shutil.which("git") and (REPO / ".git").exists():
        assert described is not None
    assert "config digest `d1`" in md.read_text()
    assert "| ART-RL | paper |" in md.read_text()


def test_cli_error_exit_code(tmp_path):
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "artrl.report",
            "w2-table",
            "--metrics",
            str(tmp_path / "no.json"),
            "--out-csv",
            str(tmp_path / "a.csv"),
            "--out-md",
            str(tmp_path / "a.md"),
        ],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2 and "no.json" in r.stderr


def test_w2_figure_is_png(tmp_path):
    recs = load_metrics(_write_metrics(tmp_path))
    out = tmp_path / "fig" / "w2.png"
    w2_figure(recs, LABELS, out, paper=PAPER_W2)
    assert _is_png(out)
    assert not list(out.parent.glob(".*.tmp"))


def _sched(sigmas, K, method, extra=None):
    return Schedule(sigmas, method=method, dataset="gauss1d", K=K, extra=extra or {})


def test_theta_figure_is_png(tmp_path):
    K = 20
    th = np.linspace(2.8, 0.5, K)
    extra = {
        "theta_mean": th.tolist(),
        "theta_q25": (th - 0.1).tolist(),
        "theta_q75": (th + 0.1).tolist(),
    }
    rl = _sched(edm(K, 3.0, 0.0, rho=3.0, convention="paper"), K, "art_rl", extra).save(
        tmp_path / "rl.json"
    )
    an = _sched(uniform(K, 3.0), K, "art_analytic").save(tmp_path / "an.json")
    out = tmp_path / "theta.png"
    theta_figure(rl, out, analytic=an)
    assert _is_png(out)
    # without the extra keys it falls back to the distilled clock speed
    bare = _sched(uniform(K, 3.0), K, "art_rl").save(tmp_path / "bare.json")
    out2 = tmp_path / "theta2.png"
    main(["theta-figure", "--schedule", str(bare), "--out", str(out2)])
    assert _is_png(out2)


def test_theta_figure_rejects_bad_extra(tmp_path):
    K = 5
    rl = _sched(uniform(K, 3.0), K, "art_rl", {"theta_mean": [1.0] * (K + 1)}).save(
        tmp_path / "rl.json"
    )
    with pytest.raises(ReportError, match="theta_mean"):
        theta_figure(rl, tmp_path / "x.png")


def test_code_version_outside_a_checkout(tmp_path):
    assert git_describe(tmp_path) is None
    assert code_version(tmp_path) == f"{artrl.__version__}+unknown"


def test_table_with_cost_column(tmp_path):
    """--costs adds the cost of making each schedule: CSV columns and two Markdown columns."""
    paths = _write_metrics(tmp_path)
    csv, md = tmp_path / "t.csv", tmp_path / "t.md"
    costs = {
        "uniform": {"cost_wall_s": 0.4, "cost_denoiser_evals": 0.0},
        "art_rl": {"cost_wall_s": 300.0, "cost_denoiser_evals": 2.5e6},
    }
    write_w2_table(load_metrics(paths), LABELS, out_csv=csv, out_md=md, costs=costs)
    df = pd.read_csv(csv).set_index("name")
    assert df.loc["art_rl", "cost_wall_s"] == 300.0
    assert df.loc["art_rl", "cost_denoiser_evals"] == 2.5e6
    assert math.isnan(df.loc["edm_t", "cost_wall_s"])  # no cost given: NaN, shown as —
    text = md.read_text()
    assert "Cost to make (wall)" in text
    row = next(ln for ln in text.splitlines() if ln.startswith("| ART-RL | ours"))
    assert row.endswith("| 5.0 min | 2.5M |")
    row = next(ln for ln in text.splitlines() if ln.startswith("| EDM-T (ρ=3) | ours"))
    assert row.endswith("| — | — |")


def test_small_w2_is_not_shown_as_zero():
    from artrl.report.tables import _fmt_w2

    assert [_fmt_w2(v) for v in (0.3449, 0.0012, 0.00049, 1.23e-6, 0.0, math.nan)] == [
        "0.345", "0.001", "4.9e-04", "1.2e-06", "0.000", "—"
    ]  # fmt: skip
