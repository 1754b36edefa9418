"""Distillation (arXiv 2601.18681 §5, App. C) and its command line."""

import numpy as np
import pytest

from artrl.art.distill import distill, main
from artrl.schedules import Schedule

T = 3.0


def test_distill_hits_budget_exactly_and_rescales_each_trajectory():
    rng = np.random.default_rng(0)
    K = 50
    shape = np.linspace(2.0, 0.5, K)
    # every trajectory is the same shape at a different speed, plus noise
    theta = shape[None, :] * rng.uniform(0.7, 1.4, size=(400, 1)) + 0.05 * rng.normal(size=(400, K))
    psi, info = distill(theta, T)
    assert psi[0] == 0.0 and abs(psi[-1] - T) <= 1e-12
    dt = T / K
    np.testing.assert_allclose(np.cumsum(np.array(info["theta_mean"]) * dt)[-1], T, rtol=1e-12)
    # the common shape is recovered: θ̄ ∝ shape, scaled to the budget
    expect = shape * T / (shape.sum() * dt)
    np.testing.assert_allclose(info["theta_mean"], expect, rtol=0.02)
    assert info["dropped"] == 0


def test_distill_drops_trajectories_without_budget():
    theta = np.ones((5, 10))
    theta[0] = -1.0  # budget −T: cannot be rescaled
    psi, info = distill(theta, T)
    assert info["dropped"] == 1
    np.testing.assert_allclose(psi, np.linspace(0, T, 11), atol=1e-12)


def test_distill_rejects_empty():
    with pytest.raises(ValueError):
        distill(np.zeros((0, 4)), T)


def test_cli_writes_valid_schedule(tmp_path):
    K = 20
    theta = np.tile(np.linspace(3, 0.5, K), (30, 1))
    ro = tmp_path / "rollouts.npz"
    np.savez(ro, theta=theta, mu=theta, T=np.float64(T), K=np.int64(K))
    out = main(
        [
            "--rollouts",
            str(ro),
            "--dataset",
            "gauss1d",
            "--seed",
            "3",
            "--out",
            str(tmp_path / "s.json"),
        ]
    )
    s = Schedule.load(out)
    assert s.K == K and s.sigmas[0] == T and s.sigmas[-1] == 0.0 and s.seed == 3
    assert len(s.extra["theta_mean"]) == K
    assert "numerics" not in s.extra  # rollouts from before artrl.art.train recorded them


def test_cli_names_a_bad_rollouts_file(tmp_path, capsys):
    from artrl.io import run_cli

    bad = tmp_path / "bad.npz"
    bad.write_text("nope")
    argv = ["--rollouts", str(bad), "--dataset", "d", "--out", str(tmp_path / "s.json")]
    assert run_cli(main, argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "bad.npz" in err and "delete it" in err, err
    assert not (tmp_path / "s.json").exists()


def test_cli_explains_an_unconverged_policy(tmp_path):
    theta = np.tile(np.linspace(3, -0.5, 10), (30, 1))  # negative mean speed at the end
    ro = tmp_path / "rollouts.npz"
    np.savez(ro, theta=theta, mu=theta, T=np.float64(T), K=np.int64(10))
    with pytest.raises(SystemExit, match="not converged"):
        main(["--rollouts", str(ro), "--dataset", "d", "--out", str(tmp_path / "s.json")])
    assert not (tmp_path / "s.json").exists()
