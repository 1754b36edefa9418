"""ART-RL on the scale-free clock (artrl.art.logrl): the base grid, the budget by construction,
learning on the 1-D Gaussian, the workflow's defaults."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from artrl.art.analytic import analytic_schedule, fine_grid
from artrl.art.config import LOG_CLOCK_DEFAULTS, ARTConfig
from artrl.art.cost import art_costs
from artrl.art.distill import main as distill_main
from artrl.art.logrl import LogClockTrainer
from artrl.art.train import main as train_main
from artrl.art.train import make_trainer
from artrl.report import main as report_main
from artrl.schedules import Schedule, geometric, uniform


def _dcfg(std=1.0, T=3.0, code=False, **art):
    d = {"model": {"type": "gaussian", "std": std, "dim": 1}, "sigma_max": T,
         "art": {"jvp_mode": "reverse", **art}}  # fmt: skip
    if code:
        d["analytic"] = {"convention": "code", "sigma_min": 0.002}
    return d


def test_config_blocks_default_to_the_log_clock_and_its_one_setting():
    c = ARTConfig.from_dict({"iterations": 7})
    assert c.clock == "log" and c.iterations == 7
    assert all(getattr(c, k) == v for k, v in LOG_CLOCK_DEFAULTS.items() if k != "iterations")
    s = ARTConfig.from_dict({"clock": "sigma"})
    assert s.lr_actor == 1e-4 and s.td_lambda == 0.0  # the paper's values
    with pytest.raises(ValueError, match="cost_quadrature"):
        ARTConfig.from_dict({"cost_quadrature": "mid"})


@pytest.mark.parametrize("code", [False, True])
def test_zero_action_is_the_base_grid_and_every_grid_lands_on_the_end(code):
    tr = make_trainer(_dcfg(T=80.0 if code else 3.0, code=code, batch=8), K=6, seed=0)
    assert isinstance(tr, LogClockTrainer)
    with torch.no_grad():
        tr.actor.net[-1].weight.zero_()
        tr.actor.net[-1].bias.zero_()
    ro = tr.rollout(8)
    base = geometric(6, 80.0, 0.002) if code else uniform(6, 3.0)
    n = 5 if code else 6  # learned steps; the code convention then steps to 0
    assert np.allclose(ro.mean_sigmas[0].numpy(), base[: n + 1], rtol=1e-12)
    g = ro.sigmas.numpy()  # executed (noisy) grids: ends exact, monotone
    assert np.all(g[:, 0] == g[0, 0]) and np.all(g[:, -1] == base[n])
    assert np.all(np.diff(g, axis=1) < 0)
    assert not np.allclose(g, g[:1])  # the policy noise moved the interior points


def test_learning_moves_the_grid_towards_the_art_optimum():
    """T = 3, K = 5 (the paper's problem): 150 iterations of the defaults bring the refined
    expected ART cost from the Uniform grid's (+25 % over ART-analytic) to within 3 %."""
    dcfg = _dcfg(iterations=150)
    tr = make_trainer(dcfg, K=5, seed=0)
    tr.train(progress=False, log=lambda _: None)
    grid, _ = tr.distilled()
    psi, _ = analytic_schedule(tr.D, 5, 3.0, tr.prior, fine_sigmas=fine_grid(3.0, 1000), n=512)
    opt = 3.0 - psi
    opt[-1] = 0.0
    kw = dict(m=8, seed=1, jvp_mode="reverse")
    c_opt = art_costs(tr.D, opt, tr.prior, 2000, **kw)["refined"]
    c_uni = art_costs(tr.D, uniform(5, 3.0), tr.prior, 2000, **kw)["refined"]
    c_rl = art_costs(tr.D, grid, tr.prior, 2000, **kw)["refined"]
    assert c_uni > 1.2 * c_opt
    assert c_rl < 1.03 * c_opt, (c_rl / c_opt, grid)
    # the bank's own ART-analytic grid is the q-profile's, and costs the same on the bank
    assert np.allclose(tr.bank_analytic(), opt, atol=2e-3)
    prov = tr.provenance(grid)
    assert abs(prov["analytic_art_cost_refined"] / c_opt - 1) < 0.02
    assert abs(prov["art_cost_refined"] / c_rl - 1) < 0.02


def test_train_and_distill_cli_give_a_schedule_from_the_settled_policy(tmp_path):
    dcfg = _dcfg(iterations=8, batch=4, hidden=16, checkpoint_every=4, distill_frac=0.5)
    out = tmp_path / "art"
    train_main(["--dataset-config", json.dumps(dcfg), "--K", "5", "--out-dir", str(out),
                "--no-progress"])  # fmt: skip
    z = np.load(out / "rollouts.npz")
    assert z["sigmas"].shape == (16, 6)  # 4 iterations of 4 trajectories: the last half
    s = Schedule.load(distill_main(["--rollouts", str(out / "rollouts.npz"), "--dataset",
                                    "gauss1d", "--out", str(tmp_path / "s.json")]))  # fmt: skip
    assert s.K == 5 and s.extra["clock"] == "log" and s.extra["source"] == "mean"
    # provenance: its expected ART costs and ART-analytic's on the same paths
    for key in ("art_cost_plain", "art_cost_refined", "analytic_art_cost_refined"):
        assert s.extra[key] > 0, key
    # the run's training figure (rule art_diagnostics)
    args = ["--train-log", out / "train_log.csv", "--schedule", tmp_path / "s.json"]
    png = report_main(["art-diagnostics", *map(str, args), "--out", str(tmp_path / "d.png")])
    assert Path(png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    want = z["sigmas"][:, 1:5].mean(0)
    assert np.allclose(s.sigmas[1:5], want, rtol=1e-12)  # the paper convention: mean of σ


def test_default_batch_keeps_the_actions_per_iteration():
    sizes = {K: make_trainer(_dcfg(), K=K, seed=0).batch_size() for K in (5, 20, 50, 100, 400)}
    assert sizes == {5: 128, 20: 128, 50: 52, 100: 26, 400: 16}
    assert make_trainer(_dcfg(batch=6), K=100, seed=0).batch_size() == 6
