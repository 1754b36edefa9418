"""Tests for artrl.schedules: baseline grids, clock maps, resampling, files and CLI."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from artrl import schedules as S
from artrl.schedules import Schedule, ScheduleError

KS = [1, 2, 3, 5, 10, 18, 100]
SIGMA_MAX, SIGMA_MIN = 80.0, 0.002


def _check_invariants(s: np.ndarray, K: int, sigma_max: float) -> None:
    assert s.dtype == np.float64
    assert s.shape == (K + 1,)
    assert np.all(np.isfinite(s))
    assert np.all(np.diff(s) < 0)
    assert s[0] == sigma_max
    assert s[-1] == 0.0


@pytest.mark.parametrize("K", KS)
@pytest.mark.parametrize("convention", ["code", "paper"])
@pytest.mark.parametrize("method", ["uniform", "edm", "geometric", "dpm", "ays_gaussian"])
def test_baseline_invariants(method, convention, K):
    s = S.baseline(method, K, sigma_max=SIGMA_MAX, sigma_min=SIGMA_MIN, convention=convention)
    _check_invariants(s, K, SIGMA_MAX)
    if convention == "code" and K >= 2 and method != "uniform":
        assert math.isclose(s[-2], SIGMA_MIN, rel_tol=1e-12)


@pytest.mark.parametrize("K", [1, 2, 5, 10, 100])
@pytest.mark.parametrize("method", ["edm", "ays_gaussian"])
def test_paper_convention_sigma_min_zero(method, K):
    s = S.baseline(method, K, sigma_max=3.0, sigma_min=0.0, rho=3.0, convention="paper")
    _check_invariants(s, K, 3.0)


@pytest.mark.parametrize("K", [2, 5, 18, 40])
@pytest.mark.parametrize("rho", [3.0, 7.0])
def test_edm_code_matches_generate_py(K, rho):
    # Direct transcription of NVlabs/edm generate.py (edm_sampler, t_steps).
    num_steps, sigma_min, sigma_max = K, SIGMA_MIN, SIGMA_MAX
    step_indices = np.arange(num_steps, dtype=np.float64)
    t_steps = (
        sigma_max ** (1 / rho)
        + step_indices / (num_steps - 1) * (sigma_min ** (1 / rho) - sigma_max ** (1 / rho))
    ) ** rho
    t_steps = np.concatenate([t_steps, np.zeros_like(t_steps[:1])])
    np.testing.assert_allclose(S.edm(K, sigma_max, sigma_min, rho=rho), t_steps, rtol=1e-14)


def test_edm_paper_formula():
    K, rho = 10, 7.0
    i = np.arange(K + 1)
    ref = (3.0 ** (1 / rho) * (1 - i / K)) ** rho
    np.testing.assert_allclose(S.edm(K, 3.0, 0.0, rho, convention="paper"), ref, rtol=1e-14)


def test_uniform_formula():
    np.testing.assert_allclose(S.uniform(4, 3.0), [3.0, 2.25, 1.5, 0.75, 0.0], rtol=0, atol=0)


def test_geometric_code_K2_equals_edm_code():
    for rho in (3.0, 7.0):
        np.testing.assert_allclose(
            S.geometric(2, SIGMA_MAX, SIGMA_MIN), S.edm(2, SIGMA_MAX, SIGMA_MIN, rho), rtol=1e-14
        )


def test_geometric_formulas():
    K = 6
    code = S.geometric(K, SIGMA_MAX, SIGMA_MIN, convention="code")
    np.testing.assert_allclose(np.diff(np.log(code[:-1])), np.log(SIGMA_MIN / SIGMA_MAX) / (K - 1))
    paper = S.geometric(K, SIGMA_MAX, SIGMA_MIN, convention="paper")
    ref = SIGMA_MAX * (SIGMA_MIN / SIGMA_MAX) ** (np.arange(K) / K)
    np.testing.assert_allclose(paper[:-1], ref, rtol=1e-14)


def test_geometric_needs_positive_sigma_min():
    with pytest.raises(ValueError, match="sigma_min > 0"):
        S.geometric(5, 3.0, 0.0)


def test_code_convention_needs_positive_sigma_min():
    with pytest.raises(ValueError, match="convention='paper'"):
        S.edm(5, 3.0, 0.0)


@pytest.mark.parametrize("convention", ["code", "paper"])
def test_ays_tangent_law(convention):
    K, c = 10, 0.5
    s = S.ays_gaussian(K, SIGMA_MAX, SIGMA_MIN, c=c, convention=convention)
    n = K - 1 if convention == "code" else K
    # AYS Thm 3.1 (arXiv 2404.14507; docs/references.md §4.1), increasing form:
    # t_i = c tan((1 − i/n) atan(t_min/c) + (i/n) atan(t_max/c))
    i = np.arange(n + 1)
    t = c * np.tan((1 - i / n) * np.arctan(SIGMA_MIN / c) + (i / n) * np.arctan(SIGMA_MAX / c))
    ref = t[::-1]
    positive = s[:-1]  # paper: σ_K = σ_min was replaced by 0
    np.testing.assert_allclose(positive, ref[: len(positive)], rtol=1e-12)
    # The inverse law: atan(σ/c) is affine in the index.
    np.testing.assert_allclose(np.diff(np.diff(np.arctan(positive / c))), 0, atol=1e-12)


def test_baseline_unknown_method():
    with pytest.raises(ValueError, match="known: uniform, edm"):
        S.baseline("cosine", 5, sigma_max=3.0)


def test_baseline_bad_convention():
    with pytest.raises(ValueError, match="convention"):
        S.baseline("edm", 5, sigma_max=3.0, sigma_min=0.1, convention="karras")


def test_psi_maps():
    s = S.uniform(6, 3.0)
    psi = S.psi_from_sigma(s, 3.0)
    assert psi[0] == 0.0 and psi[-1] == 3.0
    # σ = T − (T − σ) is exact up to one rounding.
    np.testing.assert_allclose(S.sigma_from_psi(psi, 3.0), s, rtol=0, atol=1e-15)
    np.testing.assert_allclose(S.from_psi(psi, 3.0), s, rtol=0, atol=1e-15)


def test_from_psi_budget():
    psi = np.array([0.0, 1.0, 2.0, 3.0 - 1e-12])
    assert S.from_psi(psi, 3.0)[-1] == 0.0
    with pytest.raises(ScheduleError, match="budget"):
        S.from_psi(np.array([0.0, 1.0, 2.9]), 3.0)
    with pytest.raises(ScheduleError, match="strictly decreasing"):
        S.from_psi(np.array([0.0, 2.0, 1.0, 3.0]), 3.0)


@pytest.mark.parametrize("K", [2, 5, 18])
def test_resample_loglinear_identity_and_monotone(K):
    s = S.edm(K, SIGMA_MAX, SIGMA_MIN)
    np.testing.assert_array_equal(S.resample_loglinear(s, K), s)
    for K_new in [1, 2, 3, 4, 6, 9, 12, 20, 50]:
        r = S.resample_loglinear(s, K_new)
        _check_invariants(r, K_new, SIGMA_MAX)
        if K_new >= 2:
            assert math.isclose(r[-2], SIGMA_MIN, rel_tol=1e-12)


def test_resample_loglinear_general_path_reproduces_grid():
    # K_new = K short-circuits; check the interpolation itself reproduces a grid at its knots,
    # and that a geometric grid (log-linear) is resampled into a geometric grid.
    s = S.geometric(10, SIGMA_MAX, SIGMA_MIN)
    np.testing.assert_allclose(S.resample_loglinear(s, 4), S.geometric(4, SIGMA_MAX, SIGMA_MIN))
    np.testing.assert_allclose(S.resample_loglinear(s, 19)[:-1][::2], s[:-1], rtol=1e-13)


def test_resample_loglinear_K1():
    with pytest.raises(ValueError, match="K >= 2"):
        S.resample_loglinear(np.array([3.0, 0.0]), 4)


@pytest.mark.parametrize("K", [1, 5, 100])
def test_resample_psi(K):
    s = S.edm(K, 3.0, 0.0, convention="paper")
    np.testing.assert_array_equal(S.resample_psi(s, K), s)
    for K_new in [1, 2, 7, 50, 200]:
        r = S.resample_psi(s, K_new)
        _check_invariants(r, K_new, 3.0)
    # A uniform grid's clock is ψ(t) = t, so it resamples into the uniform grid.
    np.testing.assert_allclose(S.resample_psi(S.uniform(K, 3.0), 7), S.uniform(7, 3.0), atol=1e-15)
    # Doubling K keeps the old knots.
    np.testing.assert_allclose(S.resample_psi(s, 2 * K)[::2], s, rtol=0, atol=1e-15)


@pytest.mark.parametrize(
    ("sigmas", "kwargs", "msg"),
    [
        ([[3.0, 0.0]], {}, "1-D"),
        ([3.0], {}, "at least 2"),
        ([3.0, np.nan, 0.0], {}, "non-finite"),
        ([3.0, 1.0, 1.0, 0.0], {}, "strictly decreasing at index 1"),
        ([3.0, 1.0, 0.5], {}, "last sigma must be exactly 0"),
        ([3.0, 1.0, 0.0], {"sigma_max": 2.0}, "sigma_max"),
        ([3.0, 1.0, 0.0], {"K": 3}, "K \\+ 1 = 4"),
        (["a", 0.0], {}, "numbers"),
    ],
)
def test_validate_errors(sigmas, kwargs, msg):
    with pytest.raises(ScheduleError, match=msg) as e:
        S.validate(sigmas, name="mygrid", **kwargs)
    assert str(e.value).startswith("mygrid")


def test_schedule_properties():
    sch = Schedule(S.edm(10, 3.0, 0.0, convention="paper"), "edm", "gaussian1d", 10)
    assert sch.sigma_max == 3.0
    assert sch.psi[0] == 0.0 and sch.psi[-1] == 3.0
    assert sch.theta.shape == (10,)
    assert math.isclose(np.sum(sch.theta) * 3.0 / 10, 3.0)  # budget, Eq. 6
    with pytest.raises(ScheduleError, match="K \\+ 1"):
        Schedule(S.uniform(10, 3.0), "uniform", "x", 9)


def _sched() -> Schedule:
    return Schedule(
        S.edm(18, SIGMA_MAX, SIGMA_MIN),
        method="edm",
        dataset="cifar10",
        K=18,
        seed=7,
        config_digest="abc123def456",
        extra={"rho": 7.0, "note": "x"},
    )


def test_json_round_trip_bit_exact(tmp_path):
    sch = _sched()
    path = sch.save(tmp_path / "sub" / "s.json")
    back = Schedule.load(path)
    assert np.array_equal(back.sigmas, sch.sigmas)
    assert back.sigmas.dtype == np.float64
    assert back == sch
    assert (back.method, back.dataset, back.K, back.seed, back.config_digest, back.extra) == (
        "edm",
        "cifar10",
        18,
        7,
        "abc123def456",
        {"rho": 7.0, "note": "x"},
    )
    assert json.loads(path.read_text())["format"] == "artrl-schedule/1"


def _write(path, obj_or_text):
    path.write_text(obj_or_text if isinstance(obj_or_text, str) else json.dumps(obj_or_text))
    return path


def _mutated(**changes):
    d = _sched().to_dict()
    for k, v in changes.items():
        if v is KeyError:
            del d[k]
        else:
            d[k] = v
    return d


@pytest.mark.parametrize(
    ("content", "msg"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "JSON object"),
        (_mutated(sigmas=[0.0, 1.0, 2.0]), "K \\+ 1"),
        (_mutated(K=2, sigmas=[0.0, 1.0, 2.0]), "strictly decreasing"),
        (_mutated(K=2, sigmas=[3.0, 1.0, 0.5]), "last sigma"),
        (_mutated(sigmas=KeyError), "missing key 'sigmas'"),
        (_mutated(method=KeyError), "missing key 'method'"),
        (_mutated(format="artrl-schedule/0"), "wrong format"),
        (_mutated(format=KeyError), "missing key 'format'"),
        (_mutated(K="18"), "'K' must be an integer"),
        (_mutated(seed=1.5), "'seed'"),
        (_mutated(sigmas="80,0"), "list of numbers"),
    ],
)
def test_load_malformed(tmp_path, content, msg):
    path = _write(tmp_path / "bad.json", content)
    with pytest.raises(ScheduleError, match=msg) as e:
        Schedule.load(path)
    assert str(path) in str(e.value)


def test_load_missing_file(tmp_path):
    path = tmp_path / "nope.json"
    with pytest.raises(ScheduleError, match="file not found") as e:
        Schedule.load(path)
    assert str(path) in str(e.value)


def test_cli_writes_loadable_file(tmp_path, capsys):
    out = tmp_path / "edm.json"
    argv = "--method edm --K 5 --sigma-max 3 --sigma-min 0 --rho 3 --convention paper"
    argv += f" --dataset gaussian1d --seed 1 --config-digest d1 --out {out}"
    S.main(argv.split())
    sch = Schedule.load(out)
    np.testing.assert_array_equal(sch.sigmas, S.edm(5, 3.0, 0.0, rho=3.0, convention="paper"))
    assert (sch.method, sch.dataset, sch.K, sch.seed, sch.config_digest) == (
        "edm",
        "gaussian1d",
        5,
        1,
        "d1",
    )
    assert sch.extra["rho"] == 3.0


def test_cli_bad_args(tmp_path):
    with pytest.raises(SystemExit):
        S.main(["--method", "geometric", "--K", "5", "--sigma-max", "3", "--out", str(tmp_path)])


# ----------------------------------------------------------------------------------------------
# rescale: a grid moved to another sigma_max (cross-data-set matrix)


def test_rescale_sigma_max_keeps_the_clock_in_clock_time():
    s = S.edm(10, 3.0, 0.0, rho=7.0, convention="paper")
    out = S.rescale(s, 80.0, mode="sigma_max")
    np.testing.assert_allclose(out / 80.0, s / 3.0, rtol=1e-15)  # psi/T at every t/T
    assert out[0] == 80.0 and out[-1] == 0.0
    # the ART clock psi(t) = T - sigma scales with T: theta = dpsi/dt is unchanged
    np.testing.assert_allclose(np.diff(80.0 - out) / 80.0, np.diff(3.0 - s) / 3.0, atol=1e-15)


def test_rescale_log_range_maps_the_ends_and_is_affine_in_log_sigma():
    src = S.geometric(6, 3.0, 0.01, convention="code")  # geometric: uniform in log sigma
    out = S.rescale(src, 80.0, mode="log_range", sigma_min=0.002)
    # a geometric grid stays geometric, now between the target's ends
    np.testing.assert_allclose(out, S.geometric(6, 80.0, 0.002, convention="code"), rtol=1e-12)
    s = S.edm(7, 3.0, 0.05, rho=7.0, convention="code")
    out = S.rescale(s, 80.0, mode="log_range", sigma_min=0.002)
    r, q = np.log(s[:-1]), np.log(out[:-1])
    np.testing.assert_allclose(np.diff(q) / np.diff(r), (q[0] - q[-1]) / (r[0] - r[-1]), rtol=1e-10)
    assert (out[0], out[-2], out[-1]) == (80.0, 0.002, 0.0)
    np.testing.assert_array_equal(
        S.rescale(S.uniform(1, 3.0), 80.0, mode="log_range", sigma_min=0.002), [80.0, 0.0]
    )


def test_rescale_errors():
    s = S.uniform(4, 3.0)
    with pytest.raises(ValueError, match="sigma_min"):
        S.rescale(s, 80.0, mode="log_range")
    with pytest.raises(ValueError, match="sigma_min"):
        S.rescale(s, 80.0, mode="log_range", sigma_min=90.0)
    with pytest.raises(ValueError, match="mode"):
        S.rescale(s, 80.0, mode="linear")
    with pytest.raises(ValueError, match="sigma_max"):
        S.rescale(s, -1.0)
