"""DMN (arXiv 2402.17376): the error-bound objective and its minimisation."""

import json
import math

import numpy as np
import pytest

from artrl.methods.dmn import dmn_schedule, main, objective, objective_lambda, sigmas_from_logits
from artrl.schedules import Schedule, geometric

T = 3.0


def _err(lam, p=2.0):
    alpha = 1 / math.sqrt(1 + math.exp(-2 * lam))
    sig = 1 / math.sqrt(1 + math.exp(2 * lam))
    return sig**p / alpha


def test_objective_first_order_terms():
    # N = 1 and N = 2: every step is first order, |(e^{λ_{n+1}} − e^{λ_n}) e_n|
    s = np.array([80.0, 0.002])
    lam = -np.log(s)
    assert objective(s) == pytest.approx(abs(math.exp(lam[1]) - math.exp(lam[0])) * _err(lam[0]))
    s = np.array([80.0, 1.0, 0.002])
    lam = -np.log(s)
    ref = sum(abs((math.exp(lam[n + 1]) - math.exp(lam[n])) * _err(lam[n])) for n in range(2))
    assert objective(s) == pytest.approx(ref, rel=1e-14)
    assert objective(s, data_err_power=1.0) > objective(s)  # σ_VP < 1


def test_objective_second_order_step():
    # N = 3: step 1 is second order and (s = 1 < truncNum = 3) enters as a root sum of squares
    lam = np.array([-math.log(3.0), 0.0, 1.5, math.log(500.0)])
    e, h = np.exp(lam), np.diff(lam)
    H0 = math.exp(h[1]) - 1
    H1 = math.exp(h[1]) * h[1] - H0
    J0, J1 = -e[1] * H1 / h[0], e[1] * (H1 + h[0] * H0) / h[0]
    ref = abs((e[1] - e[0]) * _err(lam[0])) + abs((e[3] - e[2]) * _err(lam[2]))
    ref += math.sqrt((_err(lam[0]) * J0) ** 2 + (_err(lam[1]) * J1) ** 2)
    assert objective_lambda(lam) == pytest.approx(ref, rel=1e-13)
    # with trunc_num = 0 the coefficients are summed per node before |.|
    ref0 = abs((e[1] - e[0]) * _err(lam[0])) + abs((e[3] - e[2]) * _err(lam[2]))
    ref0 += abs(_err(lam[0]) * J0) + abs(_err(lam[1]) * J1)
    assert objective_lambda(lam, trunc_num=0) == pytest.approx(ref0, rel=1e-13)


def test_objective_rejects_zero_and_unsorted():
    with pytest.raises(ValueError, match="σ > 0"):
        objective([3.0, 1.0, 0.0])
    with pytest.raises(ValueError, match="decreasing"):
        objective([3.0, 4.0, 1.0])


def test_logits_parametrisation():
    s = sigmas_from_logits(np.zeros(4), 80.0, 0.002)
    np.testing.assert_allclose(s, 80.0 * (0.002 / 80.0) ** (np.arange(6) / 5), rtol=1e-12)
    s = sigmas_from_logits(np.random.default_rng(0).normal(0, 5, 9), 80.0, 0.002)
    assert s[0] == 80.0 and s[-1] == 0.002 and np.all(np.diff(s) < 0)


@pytest.mark.parametrize("convention", ["paper", "code"])
@pytest.mark.parametrize("K", [3, 5, 10])
def test_dmn_decreases_objective_and_gives_valid_schedule(convention, K):
    sig, info = dmn_schedule(K, T, 0.002, convention=convention)
    assert len(sig) == K + 1 and sig[0] == T and sig[-1] == 0.0 and np.all(np.diff(sig) < 0)
    N = K if convention == "paper" else K - 1
    assert info["N"] == N and len(info["sigmas_dmn"]) == N + 1
    assert info["objective"] == pytest.approx(objective(info["sigmas_dmn"]), rel=1e-12)
    if N >= 2:
        assert info["objective"] < info["objective_init"]
    # the initial grid is log-SNR uniform (DMN's 'unif')
    if N >= 2:
        geo = geometric(N + 1, T, 0.002, convention="code")[:-1]
        assert info["objective_init"] == pytest.approx(objective(geo), rel=1e-10)
    if convention == "code":
        assert sig[-2] == pytest.approx(0.002)


def test_dmn_edge_cases():
    sig, _ = dmn_schedule(1, T, 0.002, convention="code")
    np.testing.assert_array_equal(sig, [T, 0.0])
    sig, info = dmn_schedule(1, T, 0.002, convention="paper")
    np.testing.assert_array_equal(sig, [T, 0.0])
    with pytest.raises(ValueError, match="sigma_min must be > 0"):
        dmn_schedule(4, T, 0.0)
    with pytest.raises(ValueError, match="init"):
        dmn_schedule(4, T, 0.002, init="nope")
    sig, info = dmn_schedule(6, T, 0.002, init="edm")
    assert info["objective"] < info["objective_init"]


def _cfg(**dmn):
    return json.dumps({"model": {"type": "gaussian"}, "sigma_max": T, "dmn": dmn})


def test_cli_writes_valid_deterministic_schedule(tmp_path, capsys):
    args = ["--dataset-config", _cfg(convention="code"), "--K", "6", "--dataset", "g"]
    args += ["--seed", "1", "--config-digest", "d1", "--solver", "heun"]
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    main([*args, "--out", str(a)])
    main([*args, "--out", str(b)])
    assert a.read_bytes() == b.read_bytes()
    s = Schedule.load(a)
    assert (s.method, s.dataset, s.K, s.seed, s.config_digest) == ("dmn", "g", 6, 1, "d1")
    assert s.extra["solver"] == "heun" and s.extra["denoiser_calls"] == 0
    assert s.extra["settings"]["convention"] == "code"
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0 and "multistep" in capsys.readouterr().out
    with pytest.raises(SystemExit) as e:
        main(
            ["--dataset-config", _cfg(sigma_min="x"), "--K", "4", "--dataset", "g"]
            + ["--out", str(tmp_path / "c.json")]
        )
    assert e.value.code == 2 and "dmn.sigma_min" in capsys.readouterr().err


@pytest.mark.parametrize("module", ["gits", "dmn", "ld3"])
def test_module_help_runs_as_a_program(module):
    import subprocess
    import sys

    r = subprocess.run(
        [sys.executable, "-m", f"artrl.methods.{module}", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert "--dataset-config" in r.stdout and "--solver" in r.stdout


def test_cli_records_the_numerics(tmp_path):
    """Issue 16: the schedule's extra records the torch threads / CPU kernels of the run."""
    import torch

    from artrl.device import numerics_record
    from artrl.schedules import load_for_slot

    args = ["--dataset-config", _cfg(), "--K", "4", "--dataset", "g", "--threads", "2"]
    n = torch.get_num_threads()
    try:
        main([*args, "--out", str(tmp_path / "a.json")])
        s = load_for_slot(tmp_path / "a.json", {"dataset": "g", "K": 4})
        assert s.extra["numerics"] == numerics_record()
        assert s.extra["numerics"]["torch_threads"] == 2
    finally:
        torch.set_num_threads(n)
