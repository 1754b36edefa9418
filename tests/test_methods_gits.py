"""GITS (arXiv 2405.11326) on the analytic Gaussian model: DP, cost matrix, schedule, CLI."""

import itertools
import json

import numpy as np
import pytest
import torch

from artrl.methods.common import EvalCounter, draw_start, solver_step
from artrl.methods.gits import (
    cost_matrix,
    dp_path,
    fine_grid,
    gits_schedule,
    main,
    path_cost,
    teacher_trajectory,
)
from artrl.metrics.w2 import exact_w2_linear_gaussian
from artrl.models import build
from artrl.schedules import Schedule, edm
from artrl.solvers import sample

T = 3.0
SPEC = {"type": "gaussian", "std": 1.0, "dim": 1}


@pytest.fixture(scope="module")
def bundle():
    return build(SPEC, T)


@pytest.mark.parametrize("solver", ["euler", "heun", "rk4"])
@pytest.mark.parametrize("grid", [[3.0, 1.2], [1.2, 0.0]])
def test_solver_step_matches_solvers(solver, grid):
    b = build({"type": "gaussian", "std": [0.5, 1.0, 2.0], "dim": 3}, T)
    x = torch.randn(7, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    s = torch.tensor(grid, dtype=torch.float64)
    ref = sample(b.D, x, grid, solver)
    assert torch.equal(solver_step(b.D, x, s[0], s[1], solver), ref)
    # per-sample targets: one call for several σ_next gives each row its own step
    targets = torch.tensor([grid[1], grid[1]], dtype=torch.float64).repeat_interleave(7)
    y = solver_step(b.D, x.repeat(2, 1), s[0], targets, solver)
    torch.testing.assert_close(y[:7], ref, rtol=0, atol=1e-15)


def _brute_force(C, K, coeff):
    M = C.shape[0] - 1
    best = np.inf
    for mid in itertools.combinations(range(1, M), K - 1):
        best = min(best, path_cost(C, (0, *mid, M), coeff))
    return best


@pytest.mark.parametrize("coeff", [1.0, 1.15, 0.8])
def test_dp_path_is_the_true_minimum(coeff):
    rng = np.random.default_rng(3)
    for _ in range(5):
        M = 8
        C = rng.uniform(0.0, 1.0, (M + 1, M + 1)) ** 3
        np.fill_diagonal(C, 7.0)  # never used
        for K in range(1, M + 1):
            path = dp_path(C, K, coeff)
            assert len(path) == K + 1 and path[0] == 0 and path[-1] == M
            assert np.all(np.diff(path) > 0)
            assert path_cost(C, path, coeff) == pytest.approx(_brute_force(C, K, coeff), abs=1e-12)


def test_dp_path_errors():
    C = np.ones((5, 5))
    with pytest.raises(ValueError, match="1 <= K <= 4"):
        dp_path(C, 5)
    with pytest.raises(ValueError, match="square"):
        dp_path(np.ones((3, 4)), 1)
    with pytest.raises(ValueError, match="coeff"):
        dp_path(C, 2, coeff=0.0)
    np.testing.assert_array_equal(dp_path(C, 4), [0, 1, 2, 3, 4])


def test_teacher_trajectory_matches_sample(bundle):
    x, _ = draw_start(bundle, 32, 0)
    fine = fine_grid(T, 20)
    traj = teacher_trajectory(bundle.D, fine, x, "heun")
    assert traj.shape == (21, 32, 1)
    assert torch.equal(traj[-1], sample(bundle.D, x, fine, "heun"))
    assert torch.equal(traj[7], sample(bundle.D, x, fine[:8], "heun"))


@pytest.mark.parametrize("solver", ["euler", "heun", "rk4"])
def test_cost_matrix_values_and_batching(bundle, solver):
    x, _ = draw_start(bundle, 16, 0)
    fine = fine_grid(T, 12)
    traj = teacher_trajectory(bundle.D, fine, x, "heun")
    D = EvalCounter(bundle.D)
    C = cost_matrix(D, fine, traj, solver, batch=10**6)
    C1 = cost_matrix(bundle.D, fine, traj, solver, batch=1)  # one target per call
    np.testing.assert_allclose(C, C1, rtol=1e-13, atol=1e-300)
    assert np.all(np.isinf(C[np.tril_indices(13)]))  # j <= i: not a step
    for i, j in [(0, 1), (2, 9), (5, 12), (0, 12)]:
        y = sample(bundle.D, traj[i], fine[[i, j]], solver)
        assert C[i, j] == pytest.approx(float(((y - traj[j]) ** 2).mean()), rel=1e-12)
    assert np.all(C[np.triu_indices(13, 1)] >= 0)
    calls_per_row = {"euler": 1, "heun": 2, "rk4": 4}[solver]
    assert D.calls <= 12 * calls_per_row  # one slope per row, targets batched


@pytest.mark.parametrize("convention", ["paper", "code"])
@pytest.mark.parametrize("solver", ["euler", "heun"])
def test_teacher_grid_equal_to_student_grid_is_returned(bundle, convention, solver):
    K = 6
    grid = edm(K, T, 0.0 if convention == "paper" else 0.01, convention=convention)
    x, _ = draw_start(bundle, 16, 0)
    sig, info = gits_schedule(
        bundle.D, K, x, fine_sigmas=grid, solver=solver, convention=convention
    )
    assert np.array_equal(sig, grid)
    assert len(info["path"]) == (K + 1 if convention == "paper" else K)


def test_gits_beats_uniform_subpath(bundle):
    """On its own fine grid, GITS's path has lower summed step cost and lower end-to-end
    error (against the teacher and in exact W2) than the uniform sub-path."""
    K, M = 5, 60
    x, _ = draw_start(bundle, 128, 0)
    fine = fine_grid(T, M)
    traj = teacher_trajectory(bundle.D, fine, x, "heun")
    C = cost_matrix(bundle.D, fine, traj, "euler")
    path = dp_path(C, K)
    uni = np.round(np.linspace(0, M, K + 1)).astype(int)
    assert path_cost(C, path) <= path_cost(C, uni)

    def err(idx):
        return float(((sample(bundle.D, x, fine[idx], "euler") - traj[-1]) ** 2).mean())

    assert err(path) < err(uni)
    assert exact_w2_linear_gaussian(fine[path]) < exact_w2_linear_gaussian(fine[uni])
    sig, info = gits_schedule(bundle.D, K, x, fine_sigmas=fine, solver="euler")
    np.testing.assert_array_equal(sig, fine[path])
    assert info["path"] == path.tolist()


def test_code_convention_appends_zero_and_k1(bundle):
    fine = fine_grid(T, 30, "edm", 0.01, convention="code")
    x, _ = draw_start(bundle, 16, 0)
    sig, info = gits_schedule(bundle.D, 4, x, fine_sigmas=fine, convention="code")
    assert len(sig) == 5 and sig[-2] == pytest.approx(0.01) and sig[-1] == 0.0
    sig1, _ = gits_schedule(bundle.D, 1, x, fine_sigmas=fine, convention="code")
    np.testing.assert_array_equal(sig1, [fine[0], 0.0])  # EDM code grids: σ_0 = σ_max ± 1 ulp
    with pytest.raises(ValueError, match="at least 40 intervals"):
        gits_schedule(bundle.D, 41, x, fine_sigmas=fine, convention="code")


def _cfg(**gits):
    return json.dumps({"model": SPEC, "sigma_max": T, "solver": "euler", "gits": gits})


def test_cli_writes_valid_deterministic_schedule(tmp_path):
    cfg = _cfg(trajectories=64, fine_steps=40)
    args = ["--dataset-config", cfg, "--K", "5", "--dataset", "g", "--seed", "3"]
    args += ["--config-digest", "abc", "--no-progress"]
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    main([*args, "--out", str(a)])
    main([*args, "--out", str(b)])
    assert a.read_bytes() == b.read_bytes()
    s = Schedule.load(a)
    assert (s.method, s.dataset, s.K, s.seed, s.config_digest) == ("gits", "g", 5, 3, "abc")
    assert s.extra["solver"] == "euler" and s.extra["settings"]["trajectories"] == 64
    assert s.extra["denoiser_calls"] == 79 + 40  # Heun teacher 2·40 − 1, one slope per row
    assert s.extra["denoiser_evals"] == 64 * s.extra["denoiser_calls"]
    main([*args, "--solver", "heun", "--out", str(b)])
    assert Schedule.load(b).extra["solver"] == "heun"
    code = _cfg(trajectories=16, fine_steps=20, convention="code", sigma_min=0.01)
    for K in (1, 4, 20):  # K = 20: the whole fine grid
        c = tmp_path / f"code{K}.json"
        main(["--dataset-config", code, "--K", str(K), "--dataset", "g", "--out", str(c)])
        s = Schedule.load(c)
        assert s.K == K and s.sigmas[-2] == pytest.approx(0.01 if K > 1 else T)


def test_cli_help_and_errors(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0 and "GITS" in capsys.readouterr().out
    base = ["--K", "5", "--dataset", "g", "--out", str(tmp_path / "x.json")]
    with pytest.raises(SystemExit) as e:
        main(["--dataset-config", _cfg(typo=1), *base])
    assert e.value.code == 2 and "unknown key" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--dataset-config", _cfg(fine_steps=3), *base])
    assert "at least 5 intervals" in capsys.readouterr().err
    assert not (tmp_path / "x.json").exists()


def test_cli_cost_cache_is_shared_across_K(tmp_path, capsys):
    cfg = _cfg(trajectories=32, fine_steps=30)
    base = ["--dataset-config", cfg, "--dataset", "g", "--seed", "1", "--no-progress"]
    costs = tmp_path / "costs.npz"
    assert main([*base, "--save-costs", str(costs)]) == str(costs)
    for K in (3, 6):
        direct, cached = tmp_path / f"d{K}.json", tmp_path / f"c{K}.json"
        main([*base, "--K", str(K), "--out", str(direct)])
        main([*base, "--K", str(K), "--costs", str(costs), "--out", str(cached)])
        assert direct.read_bytes() == cached.read_bytes()
    with pytest.raises(SystemExit) as e:  # made for euler, asked for heun
        main(
            [*base, "--solver", "heun", "--K", "3", "--costs", str(costs)]
            + ["--out", str(tmp_path / "x.json")]
        )
    assert e.value.code == 2 and "rebuild it" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main([*base, "--K", "3"])
    assert "--K and --out go together" in capsys.readouterr().err


def test_cli_records_the_numerics_of_the_costs(tmp_path):
    """Issue 16: the cost matrix and the schedule record the torch threads / CPU kernels that
    computed the costs; a schedule from saved costs carries the costs' record (None for a cost
    file from before it was recorded) and still loads for its slot."""
    from artrl.device import numerics_record
    from artrl.io import write_npz
    from artrl.schedules import load_for_slot

    cfg = _cfg(trajectories=16, fine_steps=20)
    base = ["--dataset-config", cfg, "--dataset", "g", "--seed", "1", "--no-progress"]
    costs = tmp_path / "costs.npz"
    n = torch.get_num_threads()
    try:
        main([*base, "--threads", "2", "--save-costs", str(costs)])
        rec = json.loads(str(np.load(costs)["numerics"]))
        assert rec == numerics_record() and rec["torch_threads"] == 2
        out = main([*base, "--threads", "1", "--K", "3", "--costs", str(costs),
                    "--out", str(tmp_path / "c.json")])  # fmt: skip
        assert torch.get_num_threads() == 1
        assert load_for_slot(out, {"dataset": "g", "K": 3}).extra["numerics"] == rec
        direct = main([*base, "--K", "3", "--out", str(tmp_path / "d.json")])
        assert load_for_slot(direct, {"K": 3}).extra["numerics"]["torch_threads"] == 1
        with np.load(costs) as z:
            old = {k: z[k] for k in z.files if k != "numerics"}
        write_npz(tmp_path / "old.npz", **old)
        out = main([*base, "--K", "3", "--costs", str(tmp_path / "old.npz"),
                    "--out", str(tmp_path / "o.json")])  # fmt: skip
        assert load_for_slot(out, {"K": 3}).extra["numerics"] is None
    finally:
        torch.set_num_threads(n)
