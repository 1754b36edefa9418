"""The bank of PF-ODE paths ART-RL reads its rollouts off (artrl.art.paths), against the
closed-form flow of Gaussian data."""

import numpy as np
import torch

from artrl.art.dynamics import batch_norm, drift_q_heun
from artrl.art.paths import fine_sigmas, path_bank
from artrl.models import build


def _g(s, c):  # ∫_0^σ c² (c² + u²)^{-3/2} du
    return s / np.sqrt(c * c + s * s)


def test_bank_matches_the_gaussian_flow_and_its_q_integral():
    for c, T, conv in ((0.5, 80.0, "code"), (1.0, 3.0, "paper")):
        b = build({"type": "gaussian", "std": c, "dim": 1}, T)
        fine = fine_sigmas(T, 400, conv, 0.002)
        bank = path_bank(b.D, b.prior, 16, fine, T=T, seed=4)
        z = b.prior(16, torch.Generator().manual_seed(4))[:, 0].abs() / np.sqrt(c * c + T * T)
        s = torch.tensor([T, 7.3 if T > 10 else 1.7, fine[-1]], dtype=torch.float64)
        idx = torch.arange(16).repeat_interleave(3)
        q, _, xn, C = bank.at(idx, s.repeat(16))
        zz = z.repeat_interleave(3)
        ss = s.repeat(16)
        assert torch.allclose(q, c * c * zz * (c * c + ss**2) ** -1.5, rtol=2e-3)
        assert torch.allclose(xn, zz * torch.sqrt(c * c + ss**2), rtol=2e-3)
        want = zz * (_g(ss, c) - _g(torch.tensor(fine[-1]), c))  # ∫ from the bank's end
        assert torch.allclose(C, want, rtol=2e-3, atol=1e-9)


def test_heun_density_is_drift_q_heun_on_the_path():
    c, T = 1.0, 3.0
    b = build({"type": "gaussian", "std": c, "dim": 1}, T)
    fine = fine_sigmas(T, 64, "paper", 0.002)
    bank = path_bank(b.D, b.prior, 4, fine, T=T, seed=1, heun=True)
    s = float(fine[10])
    idx = torch.arange(4)
    r, _ = bank.heun_at(idx, torch.full((4,), s, dtype=torch.float64))
    _, _, xn, _ = bank.at(idx, torch.full((4,), s, dtype=torch.float64))
    x = b.prior(4, torch.Generator().manual_seed(1)) * np.sqrt((c * c + s * s) / (c * c + T * T))
    _, _, Rt = drift_q_heun(b.D, x, torch.full((4,), T - s, dtype=torch.float64), T)
    assert torch.allclose(r, batch_norm(Rt), rtol=1e-3)
    assert torch.allclose(xn, x.abs()[:, 0], rtol=1e-3)
