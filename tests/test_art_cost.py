"""Plain and refined expected ART cost against closed forms for Gaussian data."""

import numpy as np
import torch

from artrl.art.analytic import art_cost
from artrl.art.cost import advance, art_costs
from artrl.models import build
from artrl.schedules import edm, geometric


def _bundle(std, T):
    return build({"type": "gaussian", "std": std, "dim": 1}, T)


def _g(s, c):  # ∫_0^σ c² (c² + u²)^{-3/2} du = σ / sqrt(c² + σ²)
    return s / np.sqrt(c * c + s * s)


def _exact_refined(sigmas, c, mean_abs_z, steps):
    """On the exact PF-ODE path x(σ) = z sqrt(c² + σ²), |Q| = c²|z|(c² + σ²)^{-3/2}, so step k
    costs θ_k |z| (g(σ_k) − g(σ_{k+1}))."""
    T, K = sigmas[0], len(sigmas) - 1
    theta = (sigmas[:-1] - sigmas[1:]) / (T / K)
    return mean_abs_z * sum(
        theta[k] * (_g(sigmas[k], c) - _g(sigmas[k + 1], c)) for k in range(steps)
    )


def _mean_abs_z(b, n, seed, T, c):
    x = b.prior(n, torch.Generator().manual_seed(seed))
    return float((x.abs() / np.sqrt(c * c + T * T)).mean())


def test_advance_follows_the_exact_flow_to_heun_order():
    c, T = 0.5, 80.0
    b = _bundle(c, T)
    x = torch.tensor([[1.3], [-40.0]], dtype=torch.float64)
    s_a = torch.tensor([20.0, 80.0], dtype=torch.float64)
    s_b = torch.tensor([0.3, 0.002], dtype=torch.float64)
    from artrl.art.dynamics import batch_norm, drift_and_q

    F, Q = drift_and_q(b.D, x, T - s_a, T)
    exact = x * torch.sqrt((c * c + s_b**2) / (c * c + s_a**2))[:, None]
    errs = []
    for m in (16, 32, 64):  # 80 → 0.002 is ~10 decades: 64 Heun sub-steps for 0.4 %
        xb, _, _, _ = advance(b.D, x, s_a, s_b, F, batch_norm(Q), m, T=T, max_dlog=np.inf)
        errs.append(float(((xb - exact) / exact).abs().max()))
    assert errs[2] < 5e-3 and errs[0] / errs[1] > 3.5 and errs[1] / errs[2] > 3.5  # ~ m^-2


def test_refined_cost_matches_the_closed_form_in_both_conventions():
    for c, T, conv, sig in (
        (1.0, 3.0, "paper", edm(6, 3.0, 0.0, rho=7.0, convention="paper")),
        (0.5, 80.0, "code", geometric(8, 80.0, 0.002)),
    ):
        b = _bundle(c, T)
        n, seed = 2000, 3
        got = art_costs(b.D, sig, b.prior, n, m=32, convention=conv, seed=seed)
        steps = len(sig) - 2 if conv == "code" else len(sig) - 1
        want = _exact_refined(sig, c, _mean_abs_z(b, n, seed, T, c), steps)
        assert abs(got["refined"] / want - 1) < 2e-3, (conv, got, want)


def test_plain_cost_is_the_left_point_cost_along_euler_rollouts():
    b = _bundle(1.0, 3.0)
    sig = edm(5, 3.0, 0.0, rho=7.0, convention="paper")
    got = art_costs(b.D, sig, b.prior, 500, m=1, seed=7)["plain"]
    assert abs(got - art_cost(b.D, sig, b.prior, 500, seed=7)) < 1e-12


def test_refined_cost_cannot_be_lowered_by_one_long_step():
    """The loophole of the left-point cost (docs/art_clock.md): a grid that crosses the stiff
    region in one step from a high σ is cheap under the plain cost, not under the refined one."""
    c, T = 0.5, 80.0
    b = _bundle(c, T)
    good = geometric(10, T, 0.002)
    jump = np.array([T, 78.8, 77.5, 75.9, 74.1, 71.9, 69.1, 65.2, 58.2, 0.002, 0.0])
    cg = art_costs(b.D, good, b.prior, 2000, convention="code")
    cj = art_costs(b.D, jump, b.prior, 2000, convention="code")
    assert cj["plain"] < 0.1 * cg["plain"]  # the plain cost is gamed ...
    assert cj["refined"] > 10 * cg["refined"]  # ... the refined one is not
