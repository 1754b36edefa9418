"""Tests for artrl.state_compare: one replicate of the state-dependent comparison (issue 17)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from artrl.art.state_sampler import load_policy, sample_state
from artrl.art.train import make_trainer
from artrl.io import InputError
from artrl.methods.dmn import dmn_schedule
from artrl.methods.gits import fine_grid, gits_schedule
from artrl.metrics.mixture import target_quantiles, w2_quantile_1d
from artrl.models.mixture import GaussianMixture1D
from artrl.solvers import nfe, sample
from artrl.state_compare import ROWS, Competitors, baseline_grid, main, state_headroom

SMALL_ART = {"jvp_mode": "reverse", "iterations": 12, "bank_paths": 32, "bank_points": 48}
PROBLEM = {
    "model": {"type": "mixture", "weights": [0.5, 0.5], "means": [-2.0, 2.0], "stds": [0.05, 1.0]},
    "sigma_max": 3.0,
    "art": SMALL_ART,
}


def _run(tmp_path, name="out.json", seed=0):
    out = tmp_path / name
    main(
        ["--problem-config", json.dumps(PROBLEM), "--problem", "two_widths", "--K", "2", "4",
         "--seed", str(seed), "--samples", "300", "--policy-dir", str(tmp_path / f"pol{seed}"),
         "--out", str(out)]
    )  # fmt: skip
    return out


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sc")
    return tmp, _run(tmp)


def test_every_row_and_the_numbers_it_reports(run):
    tmp, out = run
    d = json.loads(out.read_text())
    assert [r["K"] for r in d["results"]] == [2, 4] and d["solvers"] == ["euler", "heun"]
    mix = GaussianMixture1D([0.5, 0.5], [-2.0, 2.0], [0.05, 1.0])
    x_T, q = mix.stratified_prior(300, 3.0), target_quantiles(mix, 300)
    for r in d["results"]:
        K = r["K"]
        assert set(r["w2"]) == set(ROWS) and set(r["art_cost"]) == set(ROWS)
        for solver in ("euler", "heun"):
            # a time-only row: the solver on its grid, quantile W2 (recomputed here)
            for name in ("art_rl", "edm", "uniform"):
                g = np.asarray(r["grids"][name])
                want = w2_quantile_1d(sample(mix, x_T, g, solver=solver).numpy(), q)
                assert r["w2"][name][solver] == want
            assert r["grids"]["edm"] == baseline_grid("edm", K, 3.0).tolist()
            # the state row: the policy file of this K, sampled again
            pol, prov = load_policy(tmp / "pol0" / f"K{K}.policy.json")
            assert prov["K"] == K and prov["dataset"] == "two_widths" and prov["seed"] == 0
            x0, grids, cost = sample_state(mix, x_T, pol, solver)
            assert r["w2"]["art_state"][solver] == w2_quantile_1d(x0.numpy(), q)
            st = r["state"][solver]
            assert st["nfe"] == nfe(solver, K) and st["jvps"] == st["actor_calls"] == K - 1
            assert sum(m["samples"] for m in st["by_mode"]) == 300
            shown = st["paths"]["sigmas"]
            assert len(shown) == 24 and all(len(s) == K + 1 for s in shown)
            torch.testing.assert_close(
                torch.tensor(shown[0], dtype=torch.float64), grids[0], rtol=0, atol=0
            )  # the first shown path is sample 0's
        assert all(np.isfinite(v) and v > 0 for v in r["art_cost"].values())
        # the competing rows: GITS and LD3 made for each solver, DMN one grid
        comp = Competitors(mix, 3.0, 0)
        assert r["grids"]["dmn"] == dmn_schedule(K, 3.0, 0.002)[0].tolist()
        for solver in ("euler", "heun"):
            g = r["solver_grids"][solver]
            assert g["gits"] == comp.gits(K, solver).tolist()
            assert g["ld3"] == comp.ld3(K, solver).tolist()
            for name in ("gits", "ld3"):
                want = w2_quantile_1d(sample(mix, x_T, g[name], solver=solver).numpy(), q)
                assert r["w2"][name][solver] == want
        if K > 2:  # K = 2 has one free σ; LD3 moves it differently for each solver
            assert r["solver_grids"]["euler"]["ld3"] != r["solver_grids"]["heun"]["ld3"]
    assert d["competitors"]["gits"]["fine_steps"] == 400


def test_a_fixed_seed_gives_the_same_bytes_and_another_seed_another_run(run, tmp_path):
    _, out = run
    assert _run(tmp_path).read_bytes() == out.read_bytes()
    other = json.loads(_run(tmp_path, "b.json", seed=1_000_000).read_text())
    assert (
        other["results"][0]["grids"]["art_rl"]
        != json.loads(out.read_text())["results"][0]["grids"]["art_rl"]
    )


@pytest.mark.parametrize(
    ("model", "lo", "hi"),
    [({"type": "mixture", "weights": [1.0], "means": [0.0], "stds": [1.0]}, -1e-9, 1e-9),
     (PROBLEM["model"], 0.05, 0.5)],
)  # fmt: skip
def test_headroom_is_zero_for_one_gaussian_and_not_for_two_widths(model, lo, hi):
    # one Gaussian: |Q| along every path is |x_T| times one profile, so one time-only clock is
    # every path's optimum; two modes of widths 0.05 and 1: their |Q| peak at different σ
    tr = make_trainer({"model": model, "sigma_max": 3.0, "art": SMALL_ART}, 3, 0)
    h = state_headroom(tr)
    assert lo < h["gain"] < hi and h["per_path"] <= h["time_only"] * (1 + 1e-12)


def test_the_cached_gits_cost_matrix_gives_gits_schedule_itself():
    # Competitors keeps one cost matrix per solver for every K: the same grids as GITS made
    # from scratch at each K, from the same seeded start points
    mix = GaussianMixture1D([0.5, 0.5], [-2.0, 2.0], [0.05, 1.0])
    comp = Competitors(mix, 3.0, 5, {"gits": {"trajectories": 32, "fine_steps": 40}})
    x = mix.sample_prior(32, 3.0, torch.Generator().manual_seed(5))
    for K in (3, 6):
        want = gits_schedule(mix, K, x, fine_sigmas=fine_grid(3.0, 40), solver="heun")[0]
        np.testing.assert_array_equal(comp.gits(K, "heun"), want)
    assert list(comp._gits) == ["heun"]


def test_a_problem_that_is_not_a_mixture_is_refused(tmp_path):
    bad = {**PROBLEM, "model": {"type": "gaussian", "std": 1.0}}
    with pytest.raises(InputError, match="mixture"):
        main(["--problem-config", json.dumps(bad), "--problem", "x", "--K", "2",
              "--out", str(tmp_path / "o.json")])  # fmt: skip
    assert not (tmp_path / "o.json").exists()
