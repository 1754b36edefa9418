"""Tests for artrl.metrics.w2: exact Gaussian W2 (arXiv 2601.18681 Table 1) and empirical W2."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from artrl import gauss1d
from artrl import schedules as S
from artrl.metrics import w2 as W
from artrl.metrics.w2 import (
    exact_w2_linear_gaussian,
    linear_solver_gain,
    w2_empirical_1d,
    w2_gaussian_1d,
    w2_to_normal_1d,
)
from artrl.models.analytic import GaussianModel
from artrl.solvers import sample

KS = [2, 5, 10, 20, 50, 100]
# Exact values derived here, docs/references.md §2.4 (Euler, s = 1, σ_max = T = 3).
KNOWN = {
    "uniform": (lambda K: S.uniform(K, 3.0), [0.465, 0.212, 0.110, 0.057, 0.023, 0.012]),
    "edm_rho7": (
        lambda K: S.edm(K, 3.0, 0.0, rho=7.0, convention="paper"),
        [0.662, 0.316, 0.174, 0.091, 0.037, 0.019],
    ),
    "edm_rho3": (
        lambda K: S.edm(K, 3.0, 0.0, rho=3.0, convention="paper"),
        [0.411, 0.192, 0.101, 0.052, 0.021, 0.011],
    ),
}


@pytest.mark.parametrize("row", list(KNOWN))
def test_known_table_rows(row):
    grid, expected = KNOWN[row]
    got = [round(exact_w2_linear_gaussian(grid(K), solver="euler"), 3) for K in KS]
    np.testing.assert_allclose(got, expected, rtol=0, atol=5e-4)


def test_w2_gaussian_1d():
    assert w2_gaussian_1d(0, 1, 0, 1) == 0.0
    assert w2_gaussian_1d(1.0, 2.0, -2.0, 6.0) == 5.0
    # Diagonal Gaussians: squares summed over coordinates.
    assert w2_gaussian_1d([0, 0], [1, 2], [3, 0], [1, 6]) == 5.0


def test_exact_w2_uniform_K2_by_hand():
    g = 0.55 / 3.25
    expected = abs(g * math.sqrt(10.0) - 1.0)
    assert exact_w2_linear_gaussian(S.uniform(2, 3.0)) == pytest.approx(expected, rel=1e-14)


def test_exact_w2_matches_monte_carlo():
    sig = S.edm(5, 3.0, 0.0, rho=7.0, convention="paper")
    m = GaussianModel()
    x = sample(m, m.sample_prior(200_000, 3.0, torch.Generator().manual_seed(1)), sig, "heun")
    exact = exact_w2_linear_gaussian(sig, solver="heun")
    assert abs(w2_to_normal_1d(x.numpy()) - exact) < 0.01


def test_exact_w2_multi_dim():
    sig = S.uniform(5, 3.0)
    std = [0.5, 1.0, 2.0]
    per = [exact_w2_linear_gaussian(sig, std=s) for s in std]
    assert exact_w2_linear_gaussian(sig, std=std) == pytest.approx(math.hypot(*per), rel=1e-14)


def test_w2_empirical_1d():
    rng = np.random.default_rng(0)
    a = rng.standard_normal(1000)
    assert w2_empirical_1d(a, a) == 0.0
    assert w2_empirical_1d(a, rng.permutation(a) + 0.3) == pytest.approx(0.3, rel=1e-12)
    with pytest.raises(ValueError, match="equal size"):
        w2_empirical_1d(a, a[:10])


def test_w2_to_normal_1d():
    rng = np.random.default_rng(1)
    n = 100_000
    assert w2_to_normal_1d(rng.standard_normal(n)) < 0.01
    assert w2_to_normal_1d(1.2 * rng.standard_normal(n)) == pytest.approx(0.2, abs=0.01)
    assert w2_to_normal_1d(2.0 + 3.0 * rng.standard_normal(n), mean=2.0, std=3.0) < 0.03


def test_w2_to_normal_1d_exact_small_n():
    # n = 1: W2² = E[(a − Y)²] = (a − mean)² + std².
    assert w2_to_normal_1d([0.5], mean=0.2, std=2.0) == pytest.approx(math.sqrt(0.09 + 4.0))
    # n = 2 at the half-normal means ±std·sqrt(2/π): W2² = std²(1 − 2/π).
    c = math.sqrt(2 / math.pi)
    assert w2_to_normal_1d([-c, c]) == pytest.approx(math.sqrt(1 - 2 / math.pi), rel=1e-12)


def test_linear_solver_gain():
    s = S.uniform(2, 3.0)
    assert linear_solver_gain(s) == pytest.approx(0.55 / 3.25, rel=1e-15)
    assert isinstance(linear_solver_gain(s, solver="heun"), float)
    g = linear_solver_gain(s, solver="rk4", std=[1.0, 2.0])
    assert isinstance(g, np.ndarray) and g.shape == (2,) and g.dtype == np.float64
    # Linearity: the solver output equals the gain times the input.
    m = GaussianModel(std=[1.0, 2.0])
    x = torch.randn(8, 2, dtype=torch.float64)
    torch.testing.assert_close(sample(m, x, s, solver="rk4"), x * torch.from_numpy(g))


def test_cli(tmp_path):
    sched = S.Schedule(S.uniform(10, 3.0), "uniform", "gaussian1d", 10, config_digest="dd")
    sp = sched.save(tmp_path / "s.json")
    out = tmp_path / "w2.json"
    W.main(["--schedule", str(sp), "--mc-samples", "20000", "--seed", "3", "--out", str(out)])
    r = json.loads(out.read_text())
    assert r["method"] == "uniform" and r["dataset"] == "gaussian1d" and r["K"] == 10
    assert r["solver"] == "euler" and r["nfe"] == 10 and r["seed"] == 3
    assert r["schedule_config_digest"] == "dd" and r["mc_samples"] == 20000
    assert round(r["w2_exact"], 3) == 0.110
    assert abs(r["w2_mc"] - r["w2_exact"]) < 0.02
    assert r["sigmas"] == sched.to_dict()["sigmas"]
    W.main(["--schedule", str(sp), "--solver", "heun", "--out", str(out)])
    r = json.loads(out.read_text())
    assert r["w2_mc"] is None and r["nfe"] == 19 and r["seed"] is None
    assert "replicate" not in r and r["numerics"]["torch_threads"] == 1


def test_cli_records_its_replicate_and_threads(tmp_path):
    """A replicate's metrics (issue 16) say which replicate and seed they are, and the torch
    threads they ran with; a negative replicate is refused."""
    import torch

    sched = S.Schedule(S.uniform(5, 3.0), "uniform", "gaussian1d", 5, config_digest="dd")
    sp = sched.save(tmp_path / "s.json")
    out = tmp_path / "w2.json"
    before = torch.get_num_threads()
    try:
        W.main(
            ["--schedule", str(sp), "--mc-samples", "100", "--seed", "1000000", "--replicate",
             "1", "--threads", "2", "--out", str(out)]
        )  # fmt: skip
    finally:
        torch.set_num_threads(before)
    r = json.loads(out.read_text())
    assert r["replicate"] == 1 and r["replicate_seed"] == 1000000 and r["seed"] == 1000000
    assert r["numerics"]["torch_threads"] == 2
    with pytest.raises(SystemExit):
        W.main(["--schedule", str(sp), "--replicate", "-1", "--out", str(out)])


def test_cli_bad_schedule(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    with pytest.raises(SystemExit):
        W.main(["--schedule", str(bad), "--out", str(tmp_path / "o.json")])
    assert str(bad) in capsys.readouterr().err


def test_cli_reports_the_refined_art_cost_beside_the_plain_one(tmp_path):
    """Uniform grid on N(0, 1), T = 3: refined cost = E|z| Σ_k θ_k (g(σ_k) − g(σ_{k+1})),
    g(σ) = σ/√(1 + σ²), on the exact path (tests/test_art_cost.py); E|z| = √(2/π) up to the
    Monte-Carlo error of its 4,000 rollouts."""
    sig = S.uniform(6, 3.0)
    sp = S.Schedule(sig, "uniform", "gaussian1d", 6).save(tmp_path / "s.json")
    out = tmp_path / "w2.json"
    with pytest.raises(SystemExit):  # the ART cost is ART's: the W2 command refuses it
        W.main(["--schedule", str(sp), "--art-cost-samples", "500", "--out", str(out)])
    assert not out.exists()
    gauss1d.main(["--schedule", str(sp), "--art-cost-samples", "500", "--out", str(out)])
    r = json.loads(out.read_text())
    theta = (sig[:-1] - sig[1:]) / 0.5
    g = sig / np.sqrt(1 + sig**2)
    want = math.sqrt(2 / math.pi) * float((theta * (g[:-1] - g[1:])).sum())
    assert r["art_cost"] > 0 and abs(r["art_cost_refined"] / want - 1) < 0.1
