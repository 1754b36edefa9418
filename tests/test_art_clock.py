"""The scale-free clock's coordinate, base grid and grid averaging (artrl.art.clock)."""

import numpy as np
import pytest

from artrl.art.clock import average_grids, base_logit, learned_steps, r_of, sigma_of


def test_coordinate_round_trip_and_learned_steps():
    s = np.array([80.0, 3.1, 0.5, 0.002])
    assert np.allclose(sigma_of(r_of(s, "code", 0.002), "code", 0.002), s, rtol=1e-14)
    assert r_of(0.002, "code", 0.002) == 0.0 and r_of(1.5, "paper", 0.002) == 1.5
    assert learned_steps(10, "code") == 9 and learned_steps(10, "paper") == 10
    with pytest.raises(ValueError, match="no step to learn"):
        learned_steps(1, "code")
    with pytest.raises(ValueError, match="convention"):
        r_of(1.0, "edm", 0.002)


def test_base_fractions_space_the_grid_uniformly_in_r():
    """a = 0 on every step: step k covers 1/(K_l − k) of what is left, i.e. equal steps in r."""
    K_l, r = 7, 1.0
    rs = [r]
    for k in range(K_l):
        f = 1 / (1 + np.exp(-base_logit(K_l - k)))
        r *= 1 - f
        rs.append(r)
    assert np.allclose(np.diff(rs), -1 / K_l, atol=1e-15)


def test_average_grids_is_the_mean_in_the_coordinate():
    T, smin = 80.0, 0.002
    g1 = np.array([T, 10.0, 0.1, smin, 0.0])
    g2 = np.array([T, 40.0, 0.4, smin, 0.0])
    out, info = average_grids(np.stack([g1, g2]), "code", smin, T)
    assert np.allclose(out, [T, 20.0, 0.2, smin, 0.0], rtol=1e-12)  # geometric means
    assert info["trajectories"] == 2
    out, _ = average_grids(np.stack([g1 / 80 * 3, g2 / 80 * 3]), "paper", smin, 3.0)
    assert np.allclose(out[1:3], [(10 + 40) / 2 * 3 / 80, (0.1 + 0.4) / 2 * 3 / 80])
    with pytest.raises(ValueError, match="non-positive"):
        average_grids(np.array([[T, -1.0, smin, 0.0]]), "code", smin, T)
