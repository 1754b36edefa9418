"""LD3-style learned timesteps (arXiv 2405.15506) on the analytic Gaussian model."""

import json

import numpy as np
import pytest
import torch

from artrl.methods.common import draw_start
from artrl.methods.ld3 import grid_from_logits, ld3_schedule, main, rollout, teacher_samples
from artrl.models import build
from artrl.schedules import Schedule, edm, geometric
from artrl.solvers import sample

T = 3.0
SPEC = {"type": "gaussian", "std": [0.5, 1.0, 1.5, 2.0], "dim": 4}


@pytest.fixture(scope="module")
def setup():
    b = build(SPEC, T)
    x, _ = draw_start(b, 128, 0)
    return b, x, teacher_samples(b.D, x, T)


def test_grid_from_logits_initial_grids_and_monotonicity():
    w = torch.zeros(5, dtype=torch.float64)
    g = grid_from_logits(w, T, 0.0, "rho", 7.0).numpy()
    np.testing.assert_allclose(g, edm(5, T, 0.0, convention="paper"), rtol=1e-13, atol=0)
    assert g[0] == T and g[-1] == 0.0
    g = grid_from_logits(w, T, 0.01, "log").numpy()
    np.testing.assert_allclose(g, geometric(6, T, 0.01)[:-1], rtol=1e-13)
    w = torch.tensor(np.random.default_rng(0).normal(0, 4, 9), requires_grad=True)
    g = grid_from_logits(w, 80.0, 0.002, "rho", 7.0)
    assert torch.all(g[1:] < g[:-1]) and g[0] == 80.0 and g[-1] == 0.002
    g.sum().backward()
    assert w.grad is not None and torch.isfinite(w.grad).all() and w.grad.abs().sum() > 0


@pytest.mark.parametrize("solver", ["euler", "heun", "rk4"])
def test_rollout_matches_solvers_and_is_differentiable(setup, solver):
    b, x, _ = setup
    grid = torch.tensor(edm(4, T, 0.0, convention="paper"), requires_grad=True)
    y = rollout(b.D, x, grid, solver)
    torch.testing.assert_close(y, sample(b.D, x, grid.detach(), solver), rtol=0, atol=1e-14)
    y.pow(2).mean().backward()
    assert torch.isfinite(grid.grad).all() and grid.grad[1:-1].abs().min() > 0


def test_teacher_is_accurate(setup):
    b, x, target = setup
    exact = b.D.pf_ode_solution(x, T, 0.0)
    # dominated by the final Euler step σ_min = 0.002 → 0 of the EDM code-convention grid
    assert float(((target - exact) ** 2).mean()) < 1e-6


@pytest.mark.parametrize("solver", ["euler", "heun"])
def test_ld3_lowers_loss_and_exact_error(setup, solver):
    b, x, target = setup
    K = 5
    sig, info = ld3_schedule(b.D, K, T, x, target, solver=solver, iterations=150, lr=0.1)
    assert len(sig) == K + 1 and sig[0] == T and sig[-1] == 0.0 and np.all(np.diff(sig) < 0)
    assert info["loss_final"] < 0.5 * info["loss_init"]
    assert info["val_loss_best"] < info["val_loss_init"]
    # sample error against the exact flow on fresh noise: learned grid vs the initial EDM grid
    x2, _ = draw_start(b, 2000, 99)
    exact = b.D.pf_ode_solution(x2, T, 0.0)

    def err(grid):
        return float(((sample(b.D, x2, grid, solver) - exact) ** 2).mean())

    init = edm(K, T, 0.0, convention="paper")
    assert err(sig) < 0.5 * err(init)


def test_ld3_code_convention_log_space_and_errors(setup):
    b, x, target = setup
    sig, info = ld3_schedule(
        b.D, 4, T, x, target, convention="code", sigma_min=0.01, space="log", iterations=20
    )
    assert len(sig) == 5 and sig[-2] == pytest.approx(0.01) and sig[-1] == 0.0
    assert info["loss_selected"] <= info["loss_init"] * 1.5
    sig, _ = ld3_schedule(b.D, 1, T, x, target, convention="code", sigma_min=0.01)
    np.testing.assert_array_equal(sig, [T, 0.0])
    with pytest.raises(ValueError, match="space 'log'"):
        ld3_schedule(b.D, 4, T, x, target, space="log")
    with pytest.raises(ValueError, match="val_fraction"):
        ld3_schedule(b.D, 4, T, x, target, val_fraction=1.0)
    # minibatches: deterministic for a fixed seed
    s1, _ = ld3_schedule(b.D, 3, T, x, target, iterations=10, batch=16, seed=5)
    s2, _ = ld3_schedule(b.D, 3, T, x, target, iterations=10, batch=16, seed=5)
    assert np.array_equal(s1, s2)


def _cfg(**ld3):
    spec = {"type": "gaussian", "std": 1.0, "dim": 1}
    return json.dumps({"model": spec, "sigma_max": T, "solver": "euler", "ld3": ld3})


def test_cli_writes_valid_deterministic_schedule(tmp_path, capsys):
    cfg = _cfg(samples=64, iterations=30, teacher_K=16)
    args = ["--dataset-config", cfg, "--K", "4", "--dataset", "g", "--seed", "2"]
    args += ["--config-digest", "zz", "--no-progress"]
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    main([*args, "--out", str(a)])
    main([*args, "--out", str(b)])
    assert a.read_bytes() == b.read_bytes()
    s = Schedule.load(a)
    assert (s.method, s.dataset, s.K, s.seed, s.config_digest) == ("ld3", "g", 4, 2, "zz")
    e = s.extra
    assert e["solver"] == "euler" and e["loss_final"] < e["loss_init"]
    assert e["numerics"]["torch_threads"] == 1  # --threads' default (issue 16)
    assert e["teacher_denoiser_calls"] == 31  # Heun on 16 intervals: 2·16 − 1
    # teacher + per iteration: K on the training half and K on the validation half, + 4 K
    assert e["denoiser_calls"] == 31 + 4 * (2 * 30 + 4)
    assert e["train_samples"] == 32 and e["val_samples"] == 32
    with pytest.raises(SystemExit) as ex:
        main(["--help"])
    assert ex.value.code == 0 and "LPIPS" not in capsys.readouterr().err
    with pytest.raises(SystemExit) as ex:
        main(
            ["--dataset-config", _cfg(space="log"), "--K", "4", "--dataset", "g"]
            + ["--out", str(tmp_path / "c.json")]
        )
    assert ex.value.code == 2 and "space 'log'" in capsys.readouterr().err
