"""ART-analytic and the ART cost on the 1-D Gaussian (docs/references.md §2.3, §2.4)."""

import numpy as np

from artrl.art.analytic import analytic_schedule, art_cost, fine_grid, psi_grid_from_q
from artrl.metrics.w2 import exact_w2_linear_gaussian
from artrl.models import build
from artrl.schedules import from_psi, uniform

T = 3.0


def test_psi_grid_from_q_constant_q_is_uniform():
    p = np.linspace(0, T, 101)
    psi = psi_grid_from_q(p, np.full(101, 2.5), 10, T)
    np.testing.assert_allclose(psi, np.linspace(0, T, 11), atol=1e-12)


def test_analytic_schedule_matches_closed_form_1d():
    # |Q| ∝ (1 + s²)^{-3/2} along every path, so θ* ∝ (1 + s²)^{3/4} (docs/references.md §2.3):
    # u(ψ) = ∫_0^ψ (1 + (T − p)²)^{-3/4} dp, ψ_k = u^{-1}(u(T) k / K).
    b = build({"type": "gaussian", "std": 1.0, "dim": 1}, T)
    psi, info = analytic_schedule(b.D, 20, T, b.prior, fine_sigmas=fine_grid(T, 4000), n=512)
    p = np.linspace(0, T, 200001)
    f = (1 + (T - p) ** 2) ** -0.75
    u = np.concatenate([[0], np.cumsum(0.5 * (f[1:] + f[:-1]) * np.diff(p))])
    exact = np.interp(np.linspace(0, u[-1], 21), u, p)
    np.testing.assert_allclose(psi, exact, atol=2e-3)
    # the paper's derived W2 of the analytic optimum at K = 20 is .039
    assert abs(exact_w2_linear_gaussian(from_psi(psi, T)) - 0.039) < 0.001


def test_art_cost_analytic_beats_uniform_and_converges_to_continuous_optimum():
    b = build({"type": "gaussian", "std": 1.0, "dim": 1}, T)
    # Continuous optimum: E|x0|/√10 · u(T)² / T with E|x0| = √10·√(2/π) (docs/references.md §2.3).
    p = np.linspace(0, T, 200001)
    f = (1 + (T - p) ** 2) ** -0.75
    uT = float(np.sum(0.5 * (f[1:] + f[:-1]) * np.diff(p)))
    c_cont = np.sqrt(2 / np.pi) * uT**2 / T
    gaps = []
    for K in (50, 100):
        psi, _ = analytic_schedule(b.D, K, T, b.prior, fine_sigmas=fine_grid(T, 2000), n=256)
        c_opt = art_cost(b.D, from_psi(psi, T), b.prior, 200_000, seed=1)
        c_uni = art_cost(b.D, uniform(K, T), b.prior, 200_000, seed=1)
        assert c_opt < 0.8 * c_uni
        gaps.append(c_cont - c_opt)
    # the Euler-discretised cost converges to the continuous one at first order in 1/K
    assert 1.5 < gaps[0] / gaps[1] < 2.5, gaps
    assert abs(gaps[1] / c_cont) < 0.03


def test_code_convention_ends_at_sigma_min_then_zero():
    b = build({"type": "gaussian", "std": 1.0, "dim": 1}, T)
    fine = fine_grid(T, 400, "edm", 0.01)
    psi, info = analytic_schedule(b.D, 6, T, b.prior, fine_sigmas=fine, n=64, convention="code")
    sig = from_psi(psi, T)
    assert len(sig) == 7 and abs(sig[-2] - 0.01) < 1e-9 and sig[-1] == 0.0
    assert len(info["q"]) == len(fine) - 1  # q is never evaluated at σ = 0


def test_cli_profile_once_then_every_K_gives_the_direct_schedule(tmp_path):
    """The q-profile is K-independent: --save-profile once, then --profile per K gives the same
    schedule file as computing everything at that K; a profile of other settings is refused."""
    import json

    import pytest

    from artrl.art.analytic import main
    from artrl.schedules import Schedule

    dcfg = {
        "model": {"type": "gaussian", "std": 1.0, "dim": 1},
        "sigma_max": 3.0,
        "analytic": {"rollouts": 256, "fine_steps": 100},
    }
    common = ["--dataset-config", json.dumps(dcfg), "--dataset", "g", "--seed", "1"]
    prof = tmp_path / "q.npz"
    main([*common, "--save-profile", str(prof)])
    for K in (3, 7):
        direct = main([*common, "--K", str(K), "--out", str(tmp_path / f"d{K}.json")])
        reused = main(
            [*common, "--K", str(K), "--profile", str(prof), "--out", str(tmp_path / f"r{K}.json")]
        )
        assert direct.read_bytes() == reused.read_bytes()
        assert Schedule.load(reused).K == K
    other = json.dumps({**dcfg, "analytic": {"rollouts": 128, "fine_steps": 100}})
    with pytest.raises(SystemExit, match="delete it and rerun"):
        main(
            [
                "--dataset-config",
                other,
                "--dataset",
                "g",
                "--seed",
                "1",
                "--K",
                "3",
                "--profile",
                str(prof),
                "--out",
                str(tmp_path / "x.json"),
            ]
        )


def test_cli_defaults_are_the_schema_defaults():
    """One place for the analytic block's defaults: where the schema states one, it is the
    CLI's (the workflow fills the schema's, a direct call gets the CLI's)."""
    from pathlib import Path

    import yaml

    from artrl.art.analytic import ANALYTIC_DEFAULTS

    schema = yaml.safe_load(
        (Path(__file__).resolve().parents[1] / "workflow/schemas/config.schema.yaml").read_text()
    )

    def find(node):
        if isinstance(node, dict):
            if "analytic" in node.get("properties", {}):
                return node["properties"]["analytic"]
            for v in node.values():
                hit = find(v)
                if hit is not None:
                    return hit
        elif isinstance(node, list):
            for v in node:
                hit = find(v)
                if hit is not None:
                    return hit
        return None

    props = find(schema)["properties"]
    stated = {k: v["default"] for k, v in props.items() if "default" in v}
    assert stated and {k: ANALYTIC_DEFAULTS[k] for k in stated} == stated
    assert set(props) == set(ANALYTIC_DEFAULTS)


def test_cli_records_the_numerics_of_the_profile(tmp_path):
    """Issue 16: the q-profile npz and the schedule record the torch threads / CPU kernels the
    profile was computed with; a schedule from a reused profile carries the profile's record
    (so it is the same file as a direct one), and an older profile without it gives None."""
    import json

    import torch

    from artrl.art.analytic import main
    from artrl.device import numerics_record
    from artrl.io import write_npz
    from artrl.schedules import load_for_slot

    dcfg = {
        "model": {"type": "gaussian", "std": 1.0, "dim": 1},
        "sigma_max": 3.0,
        "analytic": {"rollouts": 64, "fine_steps": 50},
    }
    common = ["--dataset-config", json.dumps(dcfg), "--dataset", "g", "--seed", "1"]
    n = torch.get_num_threads()
    try:
        prof = tmp_path / "q.npz"
        main([*common, "--threads", "2", "--save-profile", str(prof)])
        rec = json.loads(str(np.load(prof)["numerics"]))
        assert rec == numerics_record() and rec["torch_threads"] == 2
        out = main([*common, "--threads", "1", "--K", "4", "--profile", str(prof),
                    "--out", str(tmp_path / "r.json")])  # fmt: skip
        assert torch.get_num_threads() == 1
        assert load_for_slot(out, {"dataset": "g", "K": 4}).extra["numerics"] == rec
        direct = main([*common, "--K", "4", "--out", str(tmp_path / "d.json")])
        assert load_for_slot(direct, {"K": 4}).extra["numerics"]["torch_threads"] == 1
        with np.load(prof) as z:
            old = {k: z[k] for k in z.files if k != "numerics"}
        write_npz(tmp_path / "old.npz", **old)
        out = main([*common, "--K", "4", "--profile", str(tmp_path / "old.npz"),
                    "--out", str(tmp_path / "o.json")])  # fmt: skip
        assert load_for_slot(out, {"K": 4}).extra["numerics"] is None
    finally:
        torch.set_num_threads(n)
