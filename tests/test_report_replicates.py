"""artrl.report with replicates (issue 16): each cell measured R times, the tables report the mean
over the replicates with its spread, the figures draw it, and a single replicate is written as
before, byte for byte."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.container import ErrorbarContainer

from artrl.report.common import ReportError
from artrl.report.figures import fid_figure, make_fid_figure, make_w2_figure, w2_figure
from artrl.report.records import is_baseline, load_fid, load_fid_file, load_metrics
from artrl.report.replicates import (
    BOLD,
    TIE,
    column_marks,
    estimator_noise,
    images_to_separate,
    lead_holds,
    replicate_stats,
)
from artrl.report.tables import TIE_NOTE, write_fid_table, write_w2_table
from artrl.report_images import main as images_main

LABELS = {"uniform": "Uniform", "edm": "EDM (ρ=7)", "art_rl": "ART-RL"}
PROV = {"config_digest": "cfg1", "seed": 7, "code_version": "0.0+abc"}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
STRIDE = 1_000_000  # replicate r's schedule seed: 7 + r·STRIDE (artrl.workflow.config)
N_IMAGES = 1000  # replicate r's sample seeds: r·N_IMAGES … (r+1)·N_IMAGES − 1

# ----------------------------------------------------------------------------------------------
# The pure statistics


def test_replicate_stats():
    s = replicate_stats([1.0, 2.0, 4.0])
    assert s.mean == pytest.approx(7 / 3) and s.n == 3
    assert s.sd == pytest.approx(np.std([1.0, 2.0, 4.0], ddof=1))
    assert (s.lo, s.hi) == (1.0, 4.0)
    assert s._asdict().keys() == {"mean", "sd", "lo", "hi", "n"}
    one = replicate_stats([0.1 + 0.2])
    assert one.mean == 0.1 + 0.2 and math.isnan(one.sd) and one.lo == one.hi == one.mean
    assert replicate_stats([None, math.nan, 3.0, 5.0]) == (
        4.0,
        pytest.approx(math.sqrt(2)),
        3.0,
        5.0,
        2,
    )
    empty = replicate_stats([])
    assert empty.n == 0 and all(math.isnan(v) for v in empty[:4])


def test_lead_holds():
    assert lead_holds((1.0, 0.1), (1.5, 0.2))  # 0.5 > 0.3
    assert not lead_holds((1.0, 0.1), (1.25, 0.2))  # 0.25 <= 0.3
    assert not lead_holds((1.0, 0.25), (1.5, 0.25))  # equal: the lead does not hold
    assert lead_holds(replicate_stats([1.0, 1.0]), replicate_stats([2.0, 2.0]))
    assert lead_holds((1.0, math.nan), (1.5, 0.2))  # an unknown sd counts as 0


def test_column_marks():
    # clear lead: only the best is bold
    assert column_marks([3.0, 1.0, 2.0], [0.1, 0.1, 0.1]) == ["", BOLD, ""]
    # overlap: none bold, every row whose mean - sd <= best mean + best sd is a tie (best too)
    assert column_marks([1.2, 1.0, 2.0, 1.3], [0.1, 0.15, 0.1, 0.2]) == [TIE, TIE, "", TIE]
    # rows without a finite mean are never marked; a column with one value bolds it
    assert column_marks([math.nan, 5.0], [math.nan, 1.0]) == ["", BOLD]
    assert column_marks([math.nan], [math.nan]) == [""]


# ----------------------------------------------------------------------------------------------
# Hand-made replicate files

# FID per (name, K, replicate), Heun (NFE 2K − 1). NFE 3: EDM leads beyond the spread (101 ± 1
# against 160 ± 10): bold. NFE 5: ART-RL 83 ± 7 and EDM 84 ± 4 overlap: no bold, both ≈;
# Uniform (196 ± 95.3: mean − sd = 100.7 > 83 + 7) is not tied. At NFE 5 replicate 2 the lowest
# non-ART FID is Uniform's 86, not EDM's 88: the ratio is per replicate.
FIDS = {
    ("uniform", 2): (300.0, 310.0, 320.0),
    ("uniform", 3): (250.0, 252.0, 86.0),
    ("edm", 2): (100.0, 101.0, 102.0),
    ("edm", 3): (80.0, 84.0, 88.0),
    ("art_rl", 2): (150.0, 160.0, 170.0),
    ("art_rl", 3): (78.0, 80.0, 91.0),
}
R = 3


def _write_fid(root, name, K, r, fid, *, seed_min=None, blocks=1):
    p = root / (f"rep{r}" if r else "") / "fid" / name / f"K{K}.json"
    p.parent.mkdir(parents=True, exist_ok=True)
    lo = r * N_IMAGES if seed_min is None else seed_min
    fb = [fid] if blocks == 1 else [fid - 1.0, fid, fid + 1.0]
    d = {
        "fid": fid, "fid_blocks": fb, "blocks": blocks, "n_images": N_IMAGES, "nfe": 2 * K - 1,
        "K": K, "solver": "heun", "method": name, "dataset": "digits", "name": name,
        "seed_min": lo, "seed_max": lo + N_IMAGES - 1, "schedule_config_digest": f"dig-{name}",
        "replicate": r, "replicate_seed": 7 + STRIDE * r,
    }  # fmt: skip
    p.write_text(json.dumps(d))
    return f"{name}={p}"


def _fid_entries(root, fids=FIDS, blocks=1):
    return [
        _write_fid(root, name, K, r, v, blocks=blocks)
        for (name, K), vals in fids.items()
        for r, v in enumerate(vals)
    ]


def _ref(root):
    p = root / "ref" / "edm" / "K40.json"
    p.parent.mkdir(parents=True)
    d = {"fid": 1.5, "nfe": 79, "K": 40, "solver": "heun", "blocks": 1, "n_images": N_IMAGES}
    p.write_text(json.dumps(d))
    return load_fid_file(f"edm={p}")


def _fid_table(tmp_path, entries, reference=None):
    csv, md = tmp_path / "t.csv", tmp_path / "t.md"
    write_fid_table(
        load_fid(entries, solver="heun"), LABELS, out_csv=csv, out_md=md, prov=PROV,
        reference=reference, solver="heun",
    )  # fmt: skip
    return pd.read_csv(csv), md.read_text(), csv.read_text()


def _line(text, start):
    return next(ln for ln in text.splitlines() if ln.startswith(start))


def test_fid_table_means_sds_and_ranges(tmp_path):
    df, _, _ = _fid_table(tmp_path, list(reversed(_fid_entries(tmp_path))), _ref(tmp_path))
    cols = list(df.columns)
    # each value column is followed by its sd, lo and hi; the ratio by its sd
    assert cols[3:11] == [
        "fid_NFE3", "fid_sd_NFE3", "fid_lo_NFE3", "fid_hi_NFE3",
        "fid_NFE5", "fid_sd_NFE5", "fid_lo_NFE5", "fid_hi_NFE5",
    ]  # fmt: skip
    assert "fid_ratio_sd_NFE5" == cols[cols.index("fid_ratio_NFE5") + 1]
    assert "fid_min_NFE3" not in cols and "fid_ratio_lo_NFE3" not in cols
    sched = df[df["role"] == "schedule"].set_index("name")
    for (name, K), vals in FIDS.items():
        n = 2 * K - 1
        assert sched.loc[name, f"fid_NFE{n}"] == pytest.approx(np.mean(vals))
        assert sched.loc[name, f"fid_sd_NFE{n}"] == pytest.approx(np.std(vals, ddof=1))
        assert sched.loc[name, f"fid_lo_NFE{n}"] == min(vals)
        assert sched.loc[name, f"fid_hi_NFE{n}"] == max(vals)
    assert sched.loc["art_rl", "fid_sd_NFE5"] == pytest.approx(7.0)
    assert (sched["n_replicates"] == R).all()
    assert (sched["replicate_seeds"] == "7;1000007;2000007").all()
    assert (sched["sample_seeds"] == "0-999;1000-1999;2000-2999").all()
    # ratio: per replicate (ART FID ÷ that replicate's lowest non-ART FID), then mean and sd
    for K in (2, 3):
        ratios = [
            FIDS["art_rl", K][r] / min(FIDS["edm", K][r], FIDS["uniform", K][r]) for r in range(R)
        ]
        n = 2 * K - 1
        assert sched.loc["art_rl", f"fid_ratio_NFE{n}"] == pytest.approx(np.mean(ratios))
        assert sched.loc["art_rl", f"fid_ratio_sd_NFE{n}"] == pytest.approx(np.std(ratios, ddof=1))
    assert math.isclose(sched.loc["art_rl", "fid_ratio_NFE5"], np.mean([78 / 80, 80 / 84, 91 / 86]))
    assert sched[["fid_ratio_NFE3", "fid_ratio_sd_NFE3"]].drop(index="art_rl").isna().all().all()
    # the floor: one measurement
    ref = df[df["role"] == "reference"].iloc[0]
    assert ref["fid_NFE79"] == 1.5 and math.isnan(ref["fid_sd_NFE79"]) and ref["n_replicates"] == 1


def test_fid_markdown_mean_sd_bold_and_ties(tmp_path):
    _, md, _ = _fid_table(tmp_path, _fid_entries(tmp_path), _ref(tmp_path))
    note = (
        "mean ± sample std over 3 replicates (replicate seeds 7, 1000007, 2000007; sample seeds "
        "0-999, 1000-1999, 2000-2999)"
    )
    assert note in _line(md, "FID, NFE = 2K − 1 (Heun); 1000 images per cell; ")
    # NFE 3: EDM's lead holds (bold); NFE 5: ART-RL and EDM overlap (≈, none bold)
    assert "| Uniform | 310.00 ± 10.00 | 196.00 ± 95.27 |" in md
    assert "| EDM (ρ=7) | **101.00 ± 1.00** | 84.00 ± 4.00 ≈ |" in md
    assert "| ART-RL | 160.00 ± 10.00 | 83.00 ± 7.00 ≈ |" in md
    assert md.count("**") == 2
    assert TIE_NOTE in md
    assert "| *EDM (ρ=7), Heun K=40 (floor), NFE 79* | *1.50* | *1.50* |" in md
    sec = md.split("## FID ratio to the best other method", 1)[1]
    r3 = [FIDS["art_rl", 2][r] / FIDS["edm", 2][r] for r in range(R)]
    r5 = [78 / 80, 80 / 84, 91 / 86]
    cells = [f"{np.mean(x):.2f} ± {np.std(x, ddof=1):.2f}" for x in (r3, r5)]
    assert f"| ART-RL | {cells[0]} | {cells[1]} |" in sec
    assert "| *best other* | *EDM (ρ=7)* | *EDM (ρ=7)* |" in sec
    assert "taken per replicate" in sec


def test_fid_table_records_a_replicated_score_model(tmp_path):
    """config replicate_score_model: the cells say so (artrl.workflow cell_meta), the table has a
    replicate_score_model column and the Markdown a note; without it, neither."""
    _, plain_md, plain_csv = _fid_table(tmp_path / "shared", _fid_entries(tmp_path / "shared"))
    assert "replicate_score_model" not in plain_csv and "own score model" not in plain_md
    entries = _fid_entries(tmp_path / "own")
    for entry in entries:
        path = Path(entry.split("=", 1)[1])
        d = json.loads(path.read_text())
        path.write_text(json.dumps({**d, "replicate_score_model": True}))
    df, md, _ = _fid_table(tmp_path / "own", entries)
    assert df["replicate_score_model"].eq(True).all()
    assert "each replicate sampled its own score model" in _line(md, "FID, NFE = 2K − 1")
    path.write_text(json.dumps({**d, "replicate_score_model": "yes"}))
    with pytest.raises(ReportError, match="replicate_score_model"):
        load_fid_file(entries[-1])


def test_fid_replicates_with_blocks(tmp_path):
    df, md, _ = _fid_table(tmp_path, _fid_entries(tmp_path, blocks=3))
    row = df.set_index("name").loc["edm"]
    # the replicate statistics are over the replicates' cell means (each the mean of its blocks)
    assert row["fid_NFE3"] == pytest.approx(101.0) and row["fid_sd_NFE3"] == pytest.approx(1.0)
    # the block columns: the extremes over every replicate's blocks
    assert row["fid_min_NFE3"] == 99.0 and row["fid_max_NFE3"] == 103.0
    assert "each replicate's FID the mean over 3 disjoint seed blocks" in md
    assert "| EDM (ρ=7) | **101.00 ± 1.00** | 84.00 ± 4.00 ≈ |" in md


def test_fid_cli_with_repeated_names(tmp_path):
    csv, md = tmp_path / "o" / "t.csv", tmp_path / "o" / "t.md"
    images_main(["fid-table", "--fid", *_fid_entries(tmp_path), "--solver", "heun",
                 "--out-csv", str(csv), "--out-md", str(md)])  # fmt: skip
    df = pd.read_csv(csv).set_index("name")
    assert df.loc["edm", "fid_NFE3"] == pytest.approx(101.0)
    assert (df["n_replicates"] == R).all()


def test_overlapping_sample_seeds_are_refused(tmp_path):
    a = _write_fid(tmp_path, "edm", 2, 0, 100.0)
    b = _write_fid(tmp_path, "edm", 2, 1, 101.0, seed_min=500)  # 500-1499 overlaps 0-999
    with pytest.raises(ReportError, match="disjoint sample seeds") as e:
        load_fid([a, b])
    assert a.split("=", 1)[1] in str(e.value) and b.split("=", 1)[1] in str(e.value)
    # touching ranges are disjoint
    c = _write_fid(tmp_path, "edm", 2, 1, 101.0, seed_min=1000)
    assert [r.replicate for r in load_fid([a, c])] == [0, 1]


def test_missing_replicate_is_refused(tmp_path):
    entries = _fid_entries(tmp_path)
    drop = _write_fid(tmp_path, "art_rl", 3, 2, 91.0)
    entries.remove(drop)
    with pytest.raises(ReportError, match=r"'art_rl' at NFE 5 has no replicate 2"):
        load_fid(entries)
    w2 = _w2_entries(tmp_path)
    with pytest.raises(ReportError, match=r"'uniform' at K=5 has no replicate 1"):
        load_metrics([e for e in w2 if not e.endswith("rep1/metrics/uniform/K5.json")])


def test_same_replicate_twice_is_refused(tmp_path):
    a = _write_fid(tmp_path, "edm", 2, 1, 100.0)
    with pytest.raises(ReportError, match=r"\(replicate 1\) already read from") as e:
        load_fid([a, a])
    assert str(e.value).count(a.split("=", 1)[1]) == 2


# ----------------------------------------------------------------------------------------------
# FID estimator noise: the replicate spread of the seed-independent (baseline) schedules


def test_estimator_noise_is_the_pooled_sample_std():
    # sqrt(mean of the variances): sds 1 and 2 -> sqrt((1 + 4) / 2)
    assert estimator_noise([1.0, 2.0]) == pytest.approx(math.sqrt(2.5))
    assert estimator_noise([3.0, 3.0, 3.0]) == pytest.approx(3.0)
    assert estimator_noise([2.0, math.nan, None, 3.0]) == pytest.approx(math.sqrt(6.5))
    assert math.isnan(estimator_noise([])) and math.isnan(estimator_noise([math.nan]))


def test_images_to_separate():
    # N · 8 · noise² / d², rounded up to a multiple of 1,000
    assert images_to_separate(1000, 2.0, 1.0) == 32_000  # exactly 32,000
    assert images_to_separate(1000, 1.0, 0.3) == 89_000  # 88,888.9
    assert images_to_separate(5000, math.sqrt(6.5), 0.6) == 723_000  # 722,222.2
    assert images_to_separate(1000, 0.1, 100.0) == 1000  # at least one step
    assert images_to_separate(1000, 1.0, 0.0) == math.inf
    assert math.isnan(images_to_separate(1000, math.nan, 1.0))


def test_is_baseline():
    assert all(is_baseline(m) for m in ("uniform", "edm", "geometric", "dpm", "ays_gaussian"))
    assert not any(is_baseline(m) for m in ("art_rl", "art_analytic", "mystery", "", None))


# Two baseline rows and one ART row, 3 replicates. sds: Uniform 1 (NFE 3), 2 (NFE 5); EDM 2
# and 3; ART-RL 1 and 1. Means: NFE 3: 11, 22, 31; NFE 5: 6, 11, 6.6.
NOISE_FIDS = {
    ("uniform", 2): (10.0, 11.0, 12.0),
    ("uniform", 3): (4.0, 6.0, 8.0),
    ("edm", 2): (20.0, 22.0, 24.0),
    ("edm", 3): (8.0, 11.0, 14.0),
    ("art_rl", 2): (30.0, 31.0, 32.0),
    ("art_rl", 3): (5.6, 6.6, 7.6),
}


def test_fid_markdown_estimator_noise_line(tmp_path):
    df, md, _ = _fid_table(tmp_path, _fid_entries(tmp_path, NOISE_FIDS), _ref(tmp_path))
    # by hand: the pooled std of the baseline rows (Uniform, EDM) per NFE
    noise3 = math.sqrt((1.0**2 + 2.0**2) / 2)  # 1.5811
    noise5 = math.sqrt((2.0**2 + 3.0**2) / 2)  # 2.5495
    # the closest pair: NFE 3 gaps 11, 20, 9; NFE 5 gaps 5, 0.6 (Uniform vs ART-RL), 4.4
    d = 6.6 - 6.0
    need = 1000 * 8 * noise5**2 / d**2  # 144,444.4 -> 145,000
    assert math.ceil(need / 1000) * 1000 == 145_000
    assert (f"{noise3:.3f}", f"{noise5:.3f}") == ("1.581", "2.550")
    line = (
        "FID estimator noise at 1,000 images per cell (pooled sample std over the 3 replicates "
        "of the seed-independent schedules: Uniform, EDM (ρ=7)): NFE 3 1.581, NFE 5 2.550. "
        "Closest pair: Uniform vs ART-RL at NFE 5 (0.600 apart): about 145,000 images per cell "
        "would separate them at 2σ of a difference of two measurements (1,000 · 8 · noise² / "
        "d², rounded up to a multiple of 1,000; FID's estimator variance taken to fall as 1/N)."
    )
    assert _line(md, "FID estimator noise") == line
    # one line, right under the table's notes; the table's own sds agree with the hand numbers
    lines = md.splitlines()
    assert lines[lines.index(line) - 2].startswith("FID, NFE = 2K − 1 (Heun)")
    sched = df.set_index("name")
    assert estimator_noise(sched.loc[["uniform", "edm"], "fid_sd_NFE5"]) == pytest.approx(noise5)
    assert md.count("FID estimator noise") == 1


def test_noise_line_skips_rows_with_equal_means(tmp_path):
    # a DPM row with EDM's FIDs in every replicate (both sample [σ_max, σ_min, 0] at K = 2):
    # 0 apart, but no number of images separates them; the closest pair stays Uniform vs ART-RL
    fids = NOISE_FIDS | {("geometric", K): NOISE_FIDS[("edm", K)] for K in (2, 3)}
    csv, md = tmp_path / "t.csv", tmp_path / "t.md"
    write_fid_table(
        load_fid(_fid_entries(tmp_path, fids), solver="heun"), LABELS | {"geometric": "DPM"},
        out_csv=csv, out_md=md, prov=PROV, solver="heun",
    )  # fmt: skip
    line = _line(md.read_text(), "FID estimator noise")
    assert "Closest pair: Uniform vs ART-RL at NFE 5 (0.600 apart)" in line
    assert "DPM" in line.split("Closest pair")[0]  # DPM is a baseline: its sd counts as noise


def test_fid_markdown_without_baselines_has_no_noise_line(tmp_path):
    # R > 1, but no seed-independent row: an ART row and a method the registry does not know
    fids = {k: v for k, v in NOISE_FIDS.items() if k[0] == "art_rl"}
    fids |= {("mystery", K): v for (name, K), v in NOISE_FIDS.items() if name == "uniform"}
    _, md, _ = _fid_table(tmp_path, _fid_entries(tmp_path, fids))
    assert "± " in md and "estimator noise" not in md and "Closest pair" not in md


# ----------------------------------------------------------------------------------------------
# W2 table

# (w2_exact, w2_mc, art_cost) per (name, K, replicate)
W2 = {
    ("uniform", 2): ((0.300, 0.31, 12.0), (0.302, 0.33, 14.0), (0.304, 0.35, 16.0)),
    ("uniform", 5): ((0.100, 0.11, 20.0), (0.1001, 0.12, 21.0), (0.1002, 0.13, 22.0)),
    ("art_rl", 2): ((0.200, 0.21, 2.0), (0.210, 0.22, 3.0), (0.220, 0.23, 4.0)),
    ("art_rl", 5): ((0.050, 0.06, 5.0), (0.060, 0.07, 7.0), (0.070, 0.08, 9.0)),
}


def _w2_entries(root):
    out = []
    for (name, K), reps in W2.items():
        for r, (w2, mc, cost) in enumerate(reps):
            p = root / (f"rep{r}" if r else "") / "metrics" / name / f"K{K}.json"
            p.parent.mkdir(parents=True, exist_ok=True)
            d = {
                "method": name, "dataset": "gauss1d", "K": K, "solver": "euler", "w2_exact": w2,
                "w2_mc": mc, "art_cost": cost, "replicate": r, "replicate_seed": 7 + STRIDE * r,
            }  # fmt: skip
            p.write_text(json.dumps(d))
            out.append(f"{name}={p}")
    return out


def test_w2_table_with_replicates(tmp_path):
    csv, md = tmp_path / "w.csv", tmp_path / "w.md"
    write_w2_table(load_metrics(_w2_entries(tmp_path)), LABELS, out_csv=csv, out_md=md, prov=PROV)
    df = pd.read_csv(csv).set_index("name")
    assert list(df.columns[1:5]) == ["w2_K2", "w2_sd_K2", "w2_lo_K2", "w2_hi_K2"]
    for (name, K), reps in W2.items():
        for i, q in enumerate(("w2", "w2_mc")):
            vals = [v[i] for v in reps]
            assert df.loc[name, f"{q}_K{K}"] == pytest.approx(np.mean(vals))
            assert df.loc[name, f"{q}_sd_K{K}"] == pytest.approx(np.std(vals, ddof=1))
            assert (df.loc[name, f"{q}_lo_K{K}"], df.loc[name, f"{q}_hi_K{K}"]) == (
                min(vals), max(vals)
            )  # fmt: skip
    assert df.loc["art_rl", "art_cost_K5"] == 7.0 and df.loc["art_rl", "art_cost_sd_K5"] == 2.0
    assert (df.loc["art_rl", "art_cost_lo_K5"], df.loc["art_rl", "art_cost_hi_K5"]) == (5.0, 9.0)
    assert (df["n_replicates"] == R).all()
    assert (df["replicate_seeds"] == "7;1000007;2000007").all()
    text = md.read_text()
    assert (
        "Each cell: mean ± sample std over 3 replicates (replicate seeds 7, 1000007, 2000007)."
        in text
    )
    # 3 decimals for both numbers (2 significant digits below 0.001, as for a W2)
    assert "| Uniform | ours | 0.302 ± 0.002 | 0.100 ± 1.0e-04 | 21.0000 ± 1.0000 |" in text
    assert "| ART-RL | ours | 0.210 ± 0.010 | 0.060 ± 0.010 | 7.0000 ± 2.0000 |" in text
    assert "| ART-RL | 0.220 ± 0.010 | 0.070 ± 0.010 |" in text  # Monte-Carlo W2


# ----------------------------------------------------------------------------------------------
# Figures: the drawn error bars are ± the sample std over the replicates


def _bars(fig) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """label -> (x, centre, half-height) of each error-bar series of the figure's first axes."""
    out = {}
    for c in fig.axes[0].containers:
        if not isinstance(c, ErrorbarContainer) or not len(c.lines[0].get_xdata()):
            continue
        segs = np.array(c.lines[2][0].get_segments())  # [point, (bottom, top), (x, y)]
        out[c.get_label()] = (
            segs[:, 0, 0],
            segs[:, :, 1].mean(axis=1),
            np.ptp(segs[:, :, 1], axis=1) / 2,
        )
    return out


def _legend(fig) -> list[str]:
    return [t.get_text() for t in fig.axes[0].get_legend().get_texts()]


def test_fid_figure_draws_the_sds(tmp_path):
    import matplotlib.pyplot as plt

    recs = load_fid(_fid_entries(tmp_path))
    fig = make_fid_figure(recs, LABELS, solver="heun")
    try:
        bars = _bars(fig)
        assert sorted(bars) == sorted(LABELS.values())
        for name, label in LABELS.items():
            x, centre, half = bars[label]
            assert list(x) == [3.0, 5.0]
            vals = [FIDS[name, 2], FIDS[name, 3]]
            np.testing.assert_allclose(centre, [np.mean(v) for v in vals])
            np.testing.assert_allclose(half, [np.std(v, ddof=1) for v in vals])
        assert "bars: ± sample std, 3 replicates" in _legend(fig)
    finally:
        plt.close(fig)
    out = tmp_path / "fid.png"
    fid_figure(recs, LABELS, out, solver="heun")
    assert out.read_bytes()[:8] == PNG_MAGIC
    # one replicate: no bars, no spread legend (drawn as before)
    one = [r for r in recs if r.replicate == 0]
    fig = make_fid_figure(one, LABELS, solver="heun")
    try:
        assert _bars(fig) == {} and not any("replicates" in t for t in _legend(fig))
    finally:
        plt.close(fig)


def test_w2_figure_draws_the_sds(tmp_path):
    import matplotlib.pyplot as plt

    recs = load_metrics(_w2_entries(tmp_path))
    fig = make_w2_figure(recs, LABELS)
    try:
        bars = _bars(fig)
        x, centre, half = bars["ART-RL"]
        assert list(x) == [2.0, 5.0]
        vals = [[v[0] for v in W2["art_rl", K]] for K in (2, 5)]
        np.testing.assert_allclose(centre, [np.mean(v) for v in vals])
        np.testing.assert_allclose(half, [np.std(v, ddof=1) for v in vals])
        assert "bars: ± sample std, 3 replicates" in _legend(fig)
    finally:
        plt.close(fig)
    out = tmp_path / "w2.png"
    w2_figure(recs, LABELS, out)
    assert out.read_bytes()[:8] == PNG_MAGIC


# ----------------------------------------------------------------------------------------------
# One replicate: the bytes the tables were written with before replicates existed


def _golden_inputs(root):
    """FID cells (3 schedules x 2 K, one replicate, explicit replicate 0), a floor and W2 cells."""
    fid = {
        ("uniform", 2): 300.123456, ("uniform", 3): 250.5,
        ("edm", 2): 100.0, ("edm", 3): 80.0,
        ("art_rl", 2): 150.0, ("art_rl", 3): 40.0,
    }  # fmt: skip
    fid_entries = []
    for (name, K), v in fid.items():
        p = root / "fid" / name / f"K{K}.json"
        p.parent.mkdir(parents=True, exist_ok=True)
        d = {
            "fid": v, "fid_blocks": [v], "blocks": 1, "n_images": 1000, "nfe": 2 * K - 1,
            "K": K, "solver": "heun", "method": name, "dataset": "digits", "seed_min": 0,
            "seed_max": 999, "schedule_config_digest": f"dig-{name}",
            "schedule_sha256": f"{name}{K}".ljust(64, "0"), "replicate": 0,
            "replicate_seed": 7,
        }  # fmt: skip
        p.write_text(json.dumps(d))
        fid_entries.append(f"{name}={p}")
    ref = root / "ref" / "edm" / "K40.json"
    ref.parent.mkdir(parents=True)
    ref.write_text(json.dumps({"fid": 1.5, "nfe": 79, "K": 40, "solver": "heun"}))
    w2_entries = []
    for i, name in enumerate(("uniform", "art_rl")):
        for K in (2, 5):
            p = root / "metrics" / name / f"K{K}.json"
            p.parent.mkdir(parents=True, exist_ok=True)
            d = {
                "method": name, "dataset": "gauss1d", "K": K, "solver": "euler",
                "w2_exact": 0.1 * (i + 1) + K / 1000 + 1e-7 / 3, "w2_mc": 0.0004 / K,
                "art_cost": 10.0 * (i + 1) + K, "art_cost_refined": 9.0 * (i + 1) + K,
                "replicate": 0, "replicate_seed": 7,
            }  # fmt: skip
            p.write_text(json.dumps(d))
            w2_entries.append(f"{name}={p}")
    return fid_entries, f"edm={ref}", w2_entries


def test_single_replicate_tables_are_byte_identical(tmp_path):
    """Written by the code before issue 16 (commit bd8ffa6) from the same files."""
    fid, ref, w2 = _golden_inputs(tmp_path)
    out = {k: tmp_path / f"out.{k}" for k in ("fid.csv", "fid.md", "w2.csv", "w2.md")}
    write_fid_table(
        load_fid(fid, solver="heun"), LABELS, out_csv=out["fid.csv"], out_md=out["fid.md"],
        prov=PROV, reference=load_fid_file(ref), solver="heun",
    )  # fmt: skip
    write_w2_table(load_metrics(w2), LABELS, out_csv=out["w2.csv"], out_md=out["w2.md"], prov=PROV)
    for key, want in GOLDEN.items():
        assert out[key].read_bytes() == want.encode("utf-8"), key


# fmt: off
GOLDEN = {
    'fid.csv': (
        'name,label,role,fid_NFE3,fid_NFE5,fid_NFE79,fid_ratio_NFE3,fid_ratio_NFE5,fi'
        'd_ratio_NFE79,K_NFE3,K_NFE5,K_NFE79,n_images,blocks,method,dataset,solver,sc'
        'hedule_config_digest,schedule_sha256,sample_seeds,config_digest,seed,code_ve'
        'rsion\n'
        'uniform,Uniform,schedule,300.123456,250.5,,,,,2,3,,1000.0,1,uniform,digits,h'
        'eun,dig-uniform,uniform20000;uniform30000,0-999,cfg1,7,0.0+abc\n'
        'edm,EDM (ρ=7),schedule,100.0,80.0,,,,,2,3,,1000.0,1,edm,digits,heun,dig-edm,'
        'edm200000000;edm300000000,0-999,cfg1,7,0.0+abc\n'
        'art_rl,ART-RL,schedule,150.0,40.0,,1.5,0.5,,2,3,,1000.0,1,art_rl,digits,heun'
        ',dig-art_rl,art_rl200000;art_rl300000,0-999,cfg1,7,0.0+abc\n'
        'edm,"EDM (ρ=7), Heun K=40 (floor)",reference,,,1.5,,,,,,40,,1,edm,,heun,,,,c'
        'fg1,7,0.0+abc\n'
    ),
    'fid.md': (
        '# FID against NFE: digits, Heun sampler\n'
        '\n'
        'FID, NFE = 2K − 1 (Heun); 1000.0 images per cell; lowest FID per column in b'
        'old.\n'
        '\n'
        '| Schedule | NFE=3 (K=2) | NFE=5 (K=3) |\n'
        '| --- | ---: | ---: |\n'
        '| Uniform | 300.12 | 250.50 |\n'
        '| EDM (ρ=7) | **100.00** | 80.00 |\n'
        '| ART-RL | 150.00 | **40.00** |\n'
        '| *EDM (ρ=7), Heun K=40 (floor), NFE 79* | *1.50* | *1.50* |\n'
        '\n'
        'The floor row is one measurement (at the NFE it names), repeated in every co'
        'lumn.\n'
        '\n'
        '## FID ratio to the best other method\n'
        '\n'
        'ART FID ÷ the lowest FID among the other schedules at the same NFE (below 1:'
        ' the ART schedule is better).\n'
        '\n'
        '| Schedule | NFE=3 | NFE=5 |\n'
        '| --- | ---: | ---: |\n'
        '| ART-RL | 1.50 | 0.50 |\n'
        '| *best other* | *EDM (ρ=7)* | *EDM (ρ=7)* |\n'
        '\n'
        '---\n'
        '\n'
        'Provenance: config digest `cfg1`; seed `7`; code version `0.0+abc`.\n'
    ),
    'w2.csv': (
        'name,label,w2_K2,w2_K5,w2_mc_K2,w2_mc_K5,art_cost_K5,art_cost_refined_K5,met'
        'hod,dataset,solver,schedule_config_digest,schedule_sha256,config_digest,seed'
        ',code_version\n'
        'uniform,Uniform,0.10200003333333334,0.10500003333333334,0.0002,8e-05,15.0,14'
        '.0,uniform,gauss1d,euler,,,cfg1,7,0.0+abc\n'
        'art_rl,ART-RL,0.20200003333333336,0.20500003333333336,0.0002,8e-05,25.0,23.0'
        ',art_rl,gauss1d,euler,,,cfg1,7,0.0+abc\n'
    ),
    'w2.md': (
        '# W2 to the data distribution against K\n'
        '\n'
        'Exact W2 (dataset gauss1d; solver euler).\n'
        '\n'
        '| Schedule | Source | K=2 | K=5 | ART cost (K=5) | refined ART cost (K=5) |\n'
        '| --- | --- | ---: | ---: | ---: | ---: |\n'
        '| Uniform | ours | 0.102 | 0.105 | 15.0000 | 14.0000 |\n'
        '| ART-RL | ours | 0.202 | 0.205 | 25.0000 | 23.0000 |\n'
        '\n'
        'Monte-Carlo W2 (samples pushed through the solver):\n'
        '\n'
        '| Schedule | K=2 | K=5 |\n'
        '| --- | ---: | ---: |\n'
        '| Uniform | 2.0e-04 | 8.0e-05 |\n'
        '| ART-RL | 2.0e-04 | 8.0e-05 |\n'
        '\n'
        '---\n'
        '\n'
        'Provenance: config digest `cfg1`; seed `7`; code version `0.0+abc`.\n'
    ),
}
# fmt: on


def test_the_tables_record_each_rows_numerics(tmp_path):
    """Issue 16: the threads and CPU kernels of the sampling and feature jobs (shards and FID
    files record artrl.device.numerics_record) reach a `numerics` column; files from before
    have none, and then the table has no such column."""
    rec = {"torch_threads": 1, "cpu_capability": "AVX512", "onednn_max_cpu_isa": None,
           "aten_cpu_capability": None, "torch": "2.14.1"}  # fmt: skip
    entries = _fid_entries(tmp_path)
    df, _, _ = _fid_table(tmp_path / "a", entries)
    assert "numerics" not in df.columns
    for e in entries:
        path = e.split("=", 1)[1]
        d = json.loads(open(path).read())
        d["numerics"] = rec
        d["sample_numerics"] = {**rec, "onednn_max_cpu_isa": "AVX2"}
        open(path, "w").write(json.dumps(d))
    df, _, _ = _fid_table(tmp_path / "b", entries)
    want = "sample AVX512 ×1 oneDNN=AVX2, fid AVX512 ×1, torch 2.14.1"
    assert list(df["numerics"]) == [want] * len(df)
