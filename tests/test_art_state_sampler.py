"""Tests for artrl.art.state_sampler: each sample on the clock the actor chooses at its own
state (issue 17)."""

from __future__ import annotations

import json

import pytest
import torch

from artrl.art.rl import MLP
from artrl.art.state_sampler import (
    Clock,
    StatePolicy,
    load_policy,
    sample_state,
    save_policy,
)
from artrl.io import InputError
from artrl.models.analytic import GaussianModel
from artrl.models.mixture import GaussianMixture1D
from artrl.solvers import CountingDenoiser, nfe, sample

F64 = torch.float64
T = 3.0


def _policy(K=5, convention="paper", inputs="state", seed=0, gain=300.0):
    """An untrained actor whose last layer is scaled up, so the actions vary with the state."""
    torch.manual_seed(seed)
    actor = MLP(3 if inputs == "time" else 5, hidden=16, layers=3).double()
    with torch.no_grad():
        actor.net[-1].weight.mul_(gain)
    clock = Clock(K, 80.0 if convention == "code" else T, convention, 2e-3, T, inputs, "forward")
    return StatePolicy(actor, clock)


def _mix():
    return GaussianMixture1D([0.5, 0.5], [-2.0, 2.0], [0.05, 1.0])


@pytest.mark.parametrize("convention", ["paper", "code"])
@pytest.mark.parametrize("solver", ["euler", "heun"])
def test_batched_equals_one_sample_at_a_time(solver, convention):
    # Bit for bit, given the grids (test_a_sample_is_the_solver_on_its_own_grid...). Choosing
    # the grid goes through sigmoid, softplus and exp, which torch computes with SIMD kernels
    # for full vector lanes and scalar code for a batch's tail: they round differently in the
    # last bit, so a batch of one may choose a σ a few ulp away (measured: ≤ 2e-16 relative).
    pol = _policy(convention=convention)
    D = _mix()
    x = D.stratified_prior(24, pol.clock.T)
    out, grids, cost = sample_state(D, x, pol, solver)
    assert grids.shape == (24, 6) and bool((grids[:, 1:] < grids[:, :-1]).all())
    assert float(grids[:, 1:-1].std(0).max()) > 1e-3  # the clocks do differ between samples
    for i in range(24):
        o, g, c = sample_state(D, x[i : i + 1], pol, solver)
        torch.testing.assert_close(g[0], grids[i], rtol=1e-14, atol=0)
        torch.testing.assert_close(o[0], out[i], rtol=1e-12, atol=1e-14)
        assert c == cost


@pytest.mark.parametrize("convention", ["paper", "code"])
@pytest.mark.parametrize("solver", ["euler", "heun"])
def test_a_sample_is_the_solver_on_its_own_grid_with_the_same_nfe(solver, convention):
    pol = _policy(convention=convention, seed=1)
    D = CountingDenoiser(_mix())
    x = _mix().stratified_prior(8, pol.clock.T)
    out, grids, cost = sample_state(D, x, pol, solver)
    K = pol.clock.K
    # the counter sees the solver's calls and the feature JVPs (one call each)
    assert cost.nfe == nfe(solver, K) and D.calls == cost.nfe + cost.jvps
    assert cost.jvps == cost.actor_calls == pol.K_l - 1
    for i in range(8):
        assert torch.equal(out[i], sample(_mix(), x[i : i + 1], grids[i], solver=solver)[0])


def test_a_time_only_actor_gives_every_sample_one_grid():
    pol = _policy(inputs="time", seed=2)
    x = GaussianModel().sample_prior(32, T, generator=torch.Generator().manual_seed(0))
    out, grids, _ = sample_state(GaussianModel(), x, pol, "heun")
    assert torch.equal(grids, grids[:1].expand_as(grids))
    assert torch.equal(out, sample(GaussianModel(), x, grids[0], solver="heun"))


def test_the_budget_holds_on_every_clock():
    # every clock starts at T and lands on the grid's end (σ_min, then 0, in the code convention)
    for convention, end in (("paper", [0.0]), ("code", [2e-3, 0.0])):
        pol = _policy(convention=convention, seed=3)
        _, grids, _ = sample_state(_mix(), _mix().stratified_prior(16, pol.clock.T), pol, "euler")
        assert bool((grids[:, 0] == pol.clock.T).all())
        assert torch.equal(grids[:, -len(end) :], torch.tensor(end, dtype=F64).expand(16, -1))


def test_policy_file_round_trip(tmp_path):
    pol = _policy(seed=4)
    prov = {"method": "art_state", "dataset": "mix", "K": 5, "seed": 4, "config_digest": "abc"}
    path = save_policy(tmp_path / "p.json", pol, prov)
    again, prov2 = load_policy(path)
    assert prov2 == prov and again.clock == pol.clock
    x = _mix().stratified_prior(16, T)
    a, b = sample_state(_mix(), x, pol, "heun"), sample_state(_mix(), x, again, "heun")
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


def test_bad_policy_files_are_refused(tmp_path):
    p = tmp_path / "p.json"
    p.write_text("{not json")
    with pytest.raises(InputError, match="p.json"):
        load_policy(p)
    p.write_text(json.dumps({"format": "something/else"}))
    with pytest.raises(InputError, match="not a state-policy file"):
        load_policy(p)
    good = json.loads(save_policy(tmp_path / "g.json", _policy(), {}).read_text())
    good["actor"]["d_in"] = 7
    p.write_text(json.dumps(good))
    with pytest.raises(InputError, match="malformed"):
        load_policy(p)
