"""Tests for artrl.report.state: the state-dependent comparison's table and figures from
hand-made replicate files (issue 17)."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from artrl.report.common import ReportError
from artrl.report.state import LABELS, load_replicates, main

ROWS = list(LABELS)
PNG = b"\x89PNG\r\n\x1a\n"


def _doc(r, w2, seed=None):
    """Replicate r: W2 of (row, solver, K) from ``w2(row, solver, K, r)``; ART cost 10 + r."""
    results = []
    for K in (2, 5):
        state = {}
        for solver in ("euler", "heun"):
            sig = [[3.0] + [3.0 / (k + 2) for k in range(K - 1)] + [0.0] for _ in range(24)]
            state[solver] = {
                "nfe": K if solver == "euler" else 2 * K - 1, "jvps": K - 1, "actor_calls": K - 1,
                "by_mode": [
                    {"mode": 0, "samples": 10, "sigma_mean": [3.0] * K + [0.1 * (r + 1)] + [0.0]},
                    {"mode": 1, "samples": 14, "sigma_mean": [3.0] * K + [0.3] + [0.0]},
                ],
                "paths": {"quantile": [0.5] * 24, "mode": [i % 2 for i in range(24)],
                          "sigmas": sig},
            }  # fmt: skip
        results.append(
            {
                "K": K,
                "seed": 7 + r,
                "grids": {"art_rl": [3.0, *[1.0] * (K - 1), 0.0]},
                "w2": {row: {s: w2(row, s, K, r) for s in ("euler", "heun")} for row in ROWS},
                "art_cost": {row: 10.0 + r for row in ROWS},
                "headroom": {"time_only": 1.0, "per_path": 0.9, "gain": 0.1 + 0.01 * r},
                "state": state,
            }
        )
    return {
        "problem": "two_widths", "mixture": "0.5·N(-2, 0.05²) + 0.5·N(2, 1²)", "samples": 100,
        "solvers": ["euler", "heun"], "sigma_max": 3.0, "config_digest": "abc",
        "seed": 7 + 1_000_000 * r if seed is None else seed, "replicate": r, "results": results,
    }  # fmt: skip


def _w2(row, solver, K, r):
    base = {"art_rl": 1.0, "art_analytic": 1.1, "art_state": 0.5, "edm": 2.0, "dpm": 3.0}
    v = base.get(row, 4.0) / K
    return v * (1 + 0.01 * r) if row.startswith("art") else v


def _write(tmp_path, docs):
    paths = []
    for d in docs:
        p = tmp_path / f"rep{d['replicate']}.json"
        p.write_text(json.dumps(d))
        paths.append(str(p))
    return paths


def _report(tmp_path, docs):
    paths = _write(tmp_path, docs)
    out = {k: tmp_path / f"o.{k}" for k in ("csv", "md", "w2", "paths")}
    main(
        ["--compare", *paths, "--label", "two widths", "--config-digest", "cfg", "--seed", "7",
         "--out-csv",
         str(out["csv"]), "--out-md", str(out["md"]), "--out-w2-figure", str(out["w2"]),
         "--out-paths-figure", str(out["paths"])]
    )  # fmt: skip
    return pd.read_csv(out["csv"]), out["md"].read_text(), out


def test_means_spreads_and_paired_differences(tmp_path):
    docs = [_doc(r, _w2) for r in range(3)]
    df, md, out = _report(tmp_path, docs)
    assert len(df) == len(ROWS) * 2 * 2 and set(df["n_replicates"]) == {3}
    cell = df[(df["row"] == "art_rl") & (df["solver"] == "heun") & (df["K"] == 5)].iloc[0]
    vals = [0.2 * (1 + 0.01 * r) for r in range(3)]
    assert cell["w2"] == pytest.approx(sum(vals) / 3)
    assert cell["w2_sd"] == pytest.approx(0.002)  # sample std of 0.200, 0.202, 0.204
    assert (cell["w2_lo"], cell["w2_hi"]) == (pytest.approx(0.2), pytest.approx(0.204))
    edm = df[(df["row"] == "edm") & (df["K"] == 2)].iloc[0]
    assert edm["w2_sd"] == 0.0 and edm["art_cost"] == pytest.approx(11.0)
    st = df[(df["row"] == "art_state") & (df["solver"] == "euler") & (df["K"] == 2)].iloc[0]
    # W2(state) − W2(ART-RL) per replicate: (0.25 − 0.5)(1 + 0.01 r)
    assert st["delta_vs_art_rl"] == pytest.approx(-0.25 * 1.01)
    assert st["delta_vs_art_rl_sd"] == pytest.approx(0.0025)
    assert st["last_sigma_mode0"] == pytest.approx(0.2) and st["last_sigma_mode1"] == 0.3
    assert set(df["config_digest"]) == {"cfg"}
    # the state row leads beyond the spread in every column: bold there (both K of both
    # tables), nowhere else
    lines = [ln for ln in md.splitlines() if ln.startswith(f"| {LABELS['art_state']}")]
    assert [ln.count("**") for ln in lines] == [4, 4, 0]  # Euler, Heun, ART cost
    assert md.count("**") == 8  # 4 bold cells, nothing else bold
    assert "K=2 -0.2525 ± 0.0025" in md and "mode 0 0.2, mode 1 0.3" in md
    assert "on these paths by 11.0 ± 1.0 %" in md
    assert md.startswith("# When does the state matter? two_widths (two widths): 0.5·N(-2,")
    for k in ("w2", "paths"):
        assert out[k].read_bytes()[:8] == PNG


def test_a_tie_is_marked_not_bolded(tmp_path):
    # ART-analytic within the spread of the state row at every cell
    def w2(row, solver, K, r):
        if row == "art_analytic":
            return 0.5 / K * (1.0 + 0.02 * (r - 1))
        return _w2(row, solver, K, r)

    _, md, _ = _report(tmp_path, [_doc(r, w2) for r in range(3)])
    line = next(ln for ln in md.splitlines() if ln.startswith(f"| {LABELS['art_state']}"))
    assert "**" not in line and line.count("≈") == 2  # both K of the Euler table


def test_the_best_competitor_and_the_state_row_against_it(tmp_path):
    # GITS is the best of the non-ART rows in both columns: far below the state row at K = 2,
    # within its spread at K = 5 (0.1 ± 0.005 against 0.101 ± 0.001)
    def w2(row, solver, K, r):
        if row == "gits":
            return 0.1 if K == 2 else 0.1 * (1.0 + 0.05 * (r - 1))
        return _w2(row, solver, K, r)

    df, md, _ = _report(tmp_path, [_doc(r, w2) for r in range(3)])
    st = df[df["row"] == "art_state"]
    assert set(st["best_competitor"]) == {"gits"} and df["best_competitor"].notna().sum() == 4
    k5 = st[(st["K"] == 5) & (st["solver"] == "heun")].iloc[0]
    assert k5["best_competitor_w2"] == pytest.approx(0.1)
    assert k5["best_competitor_w2_sd"] == pytest.approx(0.005)
    line = next(ln for ln in md.splitlines() if ln.startswith("Best competitor"))
    assert "K=2 GITS 0.1000" in line and "K=5 GITS 0.1000 ± 0.0050, tied" in line
    assert line.split("; ")[0].endswith("higher")
    # a file made before the competing rows: no competitor rows, the EDM row is the best
    old = [_doc(r, _w2) for r in range(3)]
    for d in old:
        for res in d["results"]:
            for row in ("gits", "ld3", "dmn"):
                del res["w2"][row], res["art_cost"][row]
    df, md, _ = _report(tmp_path, old)
    assert "gits" not in set(df["row"]) and set(df["best_competitor"].dropna()) == {"edm"}


def test_replicates_must_agree(tmp_path):
    a, b = _doc(0, _w2), _doc(1, _w2)
    b["config_digest"] = "other"
    with pytest.raises(ReportError, match="config_digest"):
        load_replicates(_write(tmp_path, [a, b]))
    (tmp_path / "x").mkdir()
    with pytest.raises(ReportError, match="repeat"):
        load_replicates(_write(tmp_path, [a]) + _write(tmp_path / "x", [_doc(0, _w2)]))
    with pytest.raises(ReportError, match="no state-comparison"):
        load_replicates([])


def test_one_replicate_has_no_spread(tmp_path):
    df, md, _ = _report(tmp_path, [_doc(0, _w2)])
    assert df["w2_sd"].isna().all() and " ± " not in md.split("## Expected")[0].split("##")[1]
    assert all(math.isfinite(v) for v in df["w2"])
