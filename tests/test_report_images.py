"""artrl.report_images: FID table, figures and sample grids, on hand-made inputs."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import artrl
from artrl.report import PROVENANCE_COLUMNS, ReportError
from artrl.report_images import (
    PAPER_FID,
    fid_figure,
    load_fid,
    load_fid_file,
    load_shard,
    main,
    sample_grid,
    write_fid_table,
)
from artrl.schedules import Schedule, edm, uniform

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
KS = (2, 3, 5)  # heun: NFE 3, 5, 9
NAMES = ("uniform", "edm", "art_rl")
LABELS = {"uniform": "Uniform", "edm": "EDM (ρ=7)", "art_rl": "ART-RL"}
# FID per (name, K): EDM best at K=2 and K=5, ART-RL best at K=3
FIDS = {
    ("uniform", 2): 300.123456,
    ("uniform", 3): 250.5,
    ("uniform", 5): 200.25,
    ("edm", 2): 100.0,
    ("edm", 3): 80.0,
    ("edm", 5): 10.0,
    ("art_rl", 2): 150.0,
    ("art_rl", 3): 40.0,
    ("art_rl", 5): 12.5,
}


def _write_fid(root, name, K, fid, *, blocks=1, solver="heun", method=None, n_images=1000):
    p = root / "fid" / name / f"K{K}.json"
    p.parent.mkdir(parents=True, exist_ok=True)
    fb = [fid] if blocks == 1 else [fid - 1.0, fid, fid + 1.0][:blocks]
    d = {
        "fid": fid,
        "fid_blocks": fb,
        "blocks": blocks,
        "n_images": n_images,
        "nfe": 2 * K - 1,
        "K": K,
        "solver": solver,
        "method": method or name,
        "dataset": "digits",
        "seed_min": 0,
        "seed_max": n_images - 1,
        "schedule_config_digest": f"dig-{name}",
    }
    p.write_text(json.dumps(d))
    return f"{name}={p}"


def _write_all(root, blocks=1):
    return [_write_fid(root, n, K, FIDS[n, K], blocks=blocks) for n in NAMES for K in KS]


def _ref(root):
    return _write_fid(root / "ref", "edm", 40, 1.5)


def _is_png(path) -> bool:
    data = path.read_bytes()
    return data[:8] == PNG_MAGIC and len(data) > 1000


def _table(tmp_path, blocks=1, paper=None, reference=True):
    recs = load_fid(list(reversed(_write_all(tmp_path, blocks))), solver="heun")
    ref = load_fid_file(_ref(tmp_path)) if reference else None
    csv, md = tmp_path / "t.csv", tmp_path / "t.md"
    prov = {"config_digest": "cfg1", "seed": 7, "code_version": "0.0+abc"}
    write_fid_table(
        recs, LABELS, out_csv=csv, out_md=md, prov=prov, reference=ref, paper=paper,
        solver="heun",
    )  # fmt: skip
    return pd.read_csv(csv), md.read_text()


def _md_line(text, start):
    return next(ln for ln in text.splitlines() if ln.startswith(start))


def test_csv_values_land_in_the_right_cells(tmp_path):
    df, _ = _table(tmp_path)
    assert list(df["name"]) == [*NAMES, "edm"]
    assert list(df["role"]) == ["schedule"] * 3 + ["reference"]
    assert list(df["label"][:3]) == [LABELS[n] for n in NAMES]
    assert df["label"].iloc[3] == "EDM (ρ=7), Heun K=40 (floor)"
    for _, row in df.iloc[:3].iterrows():
        for K in KS:
            assert row[f"fid_NFE{2 * K - 1}"] == FIDS[row["name"], K]  # full precision
        assert math.isnan(row["fid_NFE79"])
    assert df["fid_NFE79"].iloc[3] == 1.5
    assert "fid_min_NFE3" not in df.columns  # one block only
    assert list(df["K_NFE5"][:3]) == [3, 3, 3] and df["K_NFE79"].iloc[3] == 40
    assert (df["n_images"] == 1000).all()
    assert (df["config_digest"] == "cfg1").all() and (df["seed"] == 7).all()
    assert (df["code_version"] == "0.0+abc").all()
    assert list(df.columns[-3:]) == list(PROVENANCE_COLUMNS)
    # the images' seed block and the schedule's own digest, per row
    assert (df["sample_seeds"] == "0-999").all()
    assert list(df["schedule_config_digest"]) == [f"dig-{n}" for n in NAMES] + ["dig-edm"]
    # ratio columns for the ART row only
    art = df[df["name"] == "art_rl"].iloc[0]
    assert art["fid_ratio_NFE3"] == pytest.approx(150.0 / 100.0)
    assert art["fid_ratio_NFE5"] == pytest.approx(40.0 / 80.0)
    assert art["fid_ratio_NFE9"] == pytest.approx(12.5 / 10.0)
    assert df[df["name"] == "uniform"]["fid_ratio_NFE3"].isna().all()


def test_markdown_cells_bold_and_floor(tmp_path):
    _, md = _table(tmp_path)
    assert md.startswith("# FID against NFE: digits, Heun sampler")
    assert "| Schedule | NFE=3 (K=2) | NFE=5 (K=3) | NFE=9 (K=5) |" in md
    assert "| Uniform | 300.12 | 250.50 | 200.25 |" in md
    assert "| EDM (ρ=7) | **100.00** | 80.00 | **10.00** |" in md
    assert "| ART-RL | 150.00 | **40.00** | 12.50 |" in md
    # the floor row comes last among the FID rows, with its NFE, not bold, no NFE=79 column
    floor = _md_line(md, "| *EDM (ρ=7), Heun K=40 (floor), NFE 79*")
    assert floor.count("*1.50*") == 3
    lines = md.splitlines()
    assert lines.index(floor) == lines.index(_md_line(md, "| ART-RL |")) + 1
    assert "NFE=79" not in md
    assert "NFE = 2K − 1" in md
    footer = md.rstrip().splitlines()[-1]
    assert footer == "Provenance: config digest `cfg1`; seed `7`; code version `0.0+abc`."
    assert "Published" not in md and "EXT Table" not in md


def test_ratio_table(tmp_path):
    _, md = _table(tmp_path)
    sec = md.split("## FID ratio to the best other method", 1)[1]
    assert "| ART-RL | 1.50 | 0.50 | 1.25 |" in sec
    assert "| *best other* | *EDM (ρ=7)* | *EDM (ρ=7)* | *EDM (ρ=7)* |" in sec


def test_art_rows_follow_method_not_name(tmp_path):
    paths = [_write_fid(tmp_path, "mine", K, 5.0 * K, method="art_rl_transfer") for K in KS]
    paths += [_write_fid(tmp_path, "edm", K, 10.0 * K) for K in KS]
    recs = load_fid(paths)
    csv, md = tmp_path / "t.csv", tmp_path / "t.md"
    write_fid_table(recs, {}, out_csv=csv, out_md=md)
    assert "| mine | 0.50 | 0.50 | 0.50 |" in md.read_text()
    # no ART row -> no ratio table
    write_fid_table(load_fid(paths[3:]), {}, out_csv=csv, out_md=md)
    assert "FID ratio" not in md.read_text()


def test_min_max_with_several_blocks(tmp_path):
    df, md = _table(tmp_path, blocks=3)
    row = df[df["name"] == "edm"].iloc[0]
    assert row["fid_NFE9"] == pytest.approx(10.0)  # mean of 9, 10, 11
    assert row["fid_min_NFE9"] == pytest.approx(9.0) and row["fid_max_NFE9"] == 11.0
    assert "| EDM (ρ=7) | **100.00** (99.00–101.00) | 80.00 (79.00–81.00) |" in md
    assert "mean (min–max) over 3 disjoint seed blocks" in md


def test_fid_blocks_as_dict_of_metrics_fid(tmp_path):
    p = tmp_path / "a.json"
    d = {"fid": 4.0, "fid_blocks": {"fids": [3.0, 6.0], "mean": 4.5}, "blocks": 2, "K": 3}
    p.write_text(json.dumps(d))
    r = load_fid_file(f"x={p}", solver="euler")
    assert (r.name, r.nfe, r.fid, r.fid_min, r.fid_max) == ("x", 3, 4.5, 3.0, 6.0)


@pytest.mark.parametrize("paper", sorted(PAPER_FID))
def test_paper_tables_only_when_asked(tmp_path, paper):
    _, md = _table(tmp_path, paper=PAPER_FID[paper], reference=False)
    pt = PAPER_FID[paper]
    assert f"## Published (paper, {pt.dataset}, not comparable in absolute value)" in md
    assert pt.source in md
    assert "| Method | " + " | ".join(f"NFE={n}" for n in pt.nfe) + " |" in md
    # the last NFE column's best published value is ART-RL's, in bold
    key = next(k for k in pt.rows if k.startswith("art_rl"))
    label, values = pt.rows[key]
    art = _md_line(md.split("## Published", 1)[1], f"| {label} |")
    assert art.endswith(f"**{values[-1]:.2f}** |")
    assert "model floor" not in md


def test_paper_numbers():
    heun = PAPER_FID["cifar10-heun"]
    assert heun.nfe == (3, 5, 9, 13, 19, 35)
    assert heun.rows["art_rl"][1] == (152.86, 130.48, 32.13, 5.44, 2.45, 1.82)
    assert PAPER_FID["cifar10-euler"].rows["edm"][1][-1] == 2.50
    assert PAPER_FID["mnist-rk4"].rows["uniform"][1][0] == 981.13
    for t in PAPER_FID.values():
        assert all(len(v) == len(t.nfe) for _, v in t.rows.values())


def test_solver_mismatch_and_duplicates(tmp_path):
    p = _write_fid(tmp_path, "edm", 2, 1.0, solver="euler")
    with pytest.raises(ReportError, match=r"K2\.json: solver 'euler'"):
        load_fid([p], solver="heun")
    q = _write_fid(tmp_path, "uniform", 2, 1.0)
    with pytest.raises(ReportError, match="already read"):
        load_fid([q, q])


def test_cli_table_with_paper(tmp_path):
    csv, md = tmp_path / "o" / "t.csv", tmp_path / "o" / "t.md"
    main(
        [
            "fid-table",
            "--fid",
            *_write_all(tmp_path),
            "--labels-json",
            json.dumps(LABELS),
            "--solver",
            "heun",
            "--reference",
            _ref(tmp_path),
            "--reference-label",
            "EDM, Heun K=40",
            "--paper",
            "cifar10-heun",
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
    df = pd.read_csv(csv, dtype={"code_version": str})
    assert df["code_version"].str.startswith(f"{artrl.__version__}+").all()
    assert (df["config_digest"] == "d1").all()
    text = md.read_text()
    assert "EXT Table 2" in text and "*EDM, Heun K=40: model floor, NFE 79*" in text
    main(["fid-table", "--fid", *_write_all(tmp_path), "--paper", "none", "--out-csv",
          str(csv), "--out-md", str(md)])  # fmt: skip
    assert "Published" not in md.read_text()


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "file not found"),
        ("{not json", "not valid JSON"),
        (json.dumps({"nfe": 3}), "missing key 'fid'"),
        (json.dumps({"fid": 1.0}), "missing key 'nfe'"),
        (json.dumps({"fid": 1.0, "nfe": 3, "fid_blocks": [1.0], "blocks": 2}), "'blocks' is 2"),
    ],
)
def test_bad_fid_file_exit_code_2(tmp_path, capsys, content, message):
    bad = tmp_path / "bad.json"
    if content is not None:
        bad.write_text(content)
    args = ["--fid", f"edm={bad}", "--out-csv", str(tmp_path / "a.csv")]
    with pytest.raises(SystemExit) as e:
        main(["fid-table", *args, "--out-md", str(tmp_path / "a.md")])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {bad}: ") and message in err
    assert not (tmp_path / "a.csv").exists()


def test_cli_error_exit_code_subprocess(tmp_path):
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "artrl.report_images",
            "sample-grid",
            "--shard",
            f"edm={tmp_path / 'no.npz'}",
            "--out",
            str(tmp_path / "g.png"),
        ],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2 and "no.npz" in r.stderr and r.stderr.startswith("error: ")


def test_fid_figure_is_png(tmp_path):
    recs = load_fid(_write_all(tmp_path, blocks=3))
    out = tmp_path / "fig" / "fid.png"
    fid_figure(recs, LABELS, out, solver="heun", reference=load_fid_file(_ref(tmp_path)))
    assert _is_png(out)
    assert not list(out.parent.glob(".*.tmp"))
    out2 = tmp_path / "fid2.png"
    main(["fid-figure", "--fid", *_write_all(tmp_path), "--solver", "heun", "--out", str(out2)])
    assert _is_png(out2)


def _sched(tmp_path, name, K, sigmas):
    s = Schedule(sigmas, method=name, dataset="digits", K=K)
    return f"{name}={s.save(tmp_path / 'sch' / f'{name}_K{K}.json')}"


def test_sigma_figure_is_png(tmp_path):
    entries = []
    for K in (5, 10):
        entries.append(_sched(tmp_path, "uniform", K, uniform(K, 80.0)))
        entries.append(_sched(tmp_path, "edm", K, edm(K, 80.0, 0.002, rho=7.0)))
    out = tmp_path / "sigma.png"
    main(["sigma-figure", "--schedule", *entries, "--labels-json", json.dumps(LABELS),
          "--out", str(out)])  # fmt: skip
    assert _is_png(out)
    out2 = tmp_path / "sigma_k.png"
    main(["sigma-figure", "--schedule", *entries[:2], "--x", "index", "--out", str(out2)])
    assert _is_png(out2)


def test_sigma_figure_too_many_panels_and_bad_file(tmp_path, capsys):
    entries = [_sched(tmp_path, "uniform", K, uniform(K, 80.0)) for K in (2, 3, 4, 5, 6)]
    with pytest.raises(SystemExit) as e:
        main(["sigma-figure", "--schedule", *entries, "--out", str(tmp_path / "s.png")])
    assert e.value.code == 2 and "at most 4 panels" in capsys.readouterr().err
    bad = tmp_path / "bad_schedule.json"
    bad.write_text("{}")
    with pytest.raises(SystemExit) as e:
        main(["sigma-figure", "--schedule", f"x={bad}", "--out", str(tmp_path / "s.png")])
    assert e.value.code == 2 and f"error: {bad}: " in capsys.readouterr().err


def _shard(tmp_path, name, C, nfe=None, N=70, size=8):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(N, size, size, C), dtype=np.uint8)
    arrays = {"images": images, "seeds": np.arange(N)}
    if nfe is not None:
        arrays["meta"] = np.array(json.dumps({"nfe": nfe, "K": (nfe + 1) // 2}))
    p = tmp_path / "shards" / f"{name}.npz"
    p.parent.mkdir(parents=True, exist_ok=True)
    np.savez(p, **arrays)
    return f"{name}={p}"


@pytest.mark.parametrize("C", [1, 3])
def test_sample_grid_is_png(tmp_path, C):
    entries = [_shard(tmp_path, "edm", C, nfe=9), _shard(tmp_path, "art_rl", C)]
    s = load_shard(entries[0], 64)
    assert s.images.shape == (64, 8, 8, C) and s.nfe == 9
    assert load_shard(entries[1], 64).nfe is None
    out = tmp_path / "grid.png"
    main(["sample-grid", "--shard", *entries, "--labels-json", json.dumps(LABELS),
          "--n", "64", "--title", "t", "--out", str(out)])  # fmt: skip
    assert _is_png(out)


def test_sample_grid_rejects_bad_shards(tmp_path):
    p = tmp_path / "x.npz"
    np.savez(p, images=np.zeros((4, 8, 8, 2), dtype=np.uint8))
    with pytest.raises(ReportError, match=r"x\.npz: 'images' must be uint8"):
        load_shard(f"a={p}")
    q = tmp_path / "y.npz"
    q.write_text("not an npz")
    with pytest.raises(ReportError, match=r"y\.npz: not a readable"):
        load_shard(f"a={q}")
    good = _shard(tmp_path, "edm", 1)
    with pytest.raises(ReportError, match="given twice"):
        sample_grid([load_shard(good), load_shard(good)], {}, tmp_path / "g.png")


def test_fid_table_with_cost_column(tmp_path):
    recs = load_fid(_write_all(tmp_path), solver="heun")
    ref = load_fid_file(_ref(tmp_path))
    csv, md = tmp_path / "t.csv", tmp_path / "t.md"
    costs = {n: {"cost_wall_s": 20.0 * i, "cost_denoiser_evals": 1e3 * i} for i, n in
             enumerate(NAMES)}  # fmt: skip
    write_fid_table(recs, LABELS, out_csv=csv, out_md=md, reference=ref, costs=costs)
    df = pd.read_csv(csv).set_index("role")
    assert list(df.loc["schedule", "cost_wall_s"]) == [0.0, 20.0, 40.0]
    assert math.isnan(df.loc["reference", "cost_wall_s"])  # the floor row costs nothing here
    text = md.read_text()
    assert "| Cost (wall) | Denoiser evals |" in _md_line(text, "| Schedule")
    assert _md_line(text, "| ART-RL").endswith("| 40 s | 2.0k |")
    assert "Cost: wall time of the workflow jobs" in text


def test_state_paths_figure_from_shards(tmp_path, capsys):
    """``state-paths``: one panel per state-dependent shard, refused for a shard sampled with
    another schedule (issue 17)."""
    from artrl.io import file_sha256, write_npz
    from artrl.report_images import main

    shards, scheds = [], []
    rng = np.random.default_rng(0)
    for K in (3, 4):
        s = Schedule(edm(K, 80.0, 0.002, convention="code"), "art_state", "digits", K)
        sp = s.save(tmp_path / f"K{K}.json")
        g = np.tile(s.sigmas, (40, 1))
        g[:, 1:-2] *= np.exp(rng.normal(0, 0.2, g[:, 1:-2].shape))  # per-image interior steps
        meta = {"solver": "heun", "nfe": 2 * K - 1, "schedule_sha256": file_sha256(sp)}
        images = rng.integers(0, 256, (40, 8, 8, 1), dtype=np.uint8)
        shard = write_npz(tmp_path / f"K{K}.npz", images=images, sigmas=g,
                          meta=np.array(json.dumps(meta)))  # fmt: skip
        shards.append(str(shard))
        scheds.append(str(sp))
    out = tmp_path / "paths.png"
    main(["state-paths", "--shard", *shards, "--schedule", *scheds, "--out", str(out)])
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    import torch  # each image's grid coloured by a classifier's class

    from artrl.metrics.digits_features import DigitsNet, save_classifier

    torch.manual_seed(0)
    clf = save_classifier(tmp_path / "clf.pt", DigitsNet(width=4, feat_dim=8), {"resolution": 8})
    main(["state-paths", "--shard", *shards, "--schedule", *scheds, "--classifier", str(clf),
          "--out", str(tmp_path / "classes.png")])  # fmt: skip
    assert (tmp_path / "classes.png").read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(SystemExit):
        main(["state-paths", "--shard", *shards, "--schedule", *scheds[::-1], "--out", str(out)])
    assert "schedule sha256 differs" in capsys.readouterr().err
