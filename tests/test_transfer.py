"""python -m artrl.transfer: resampling a schedule's ψ-clock to another K."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from artrl.schedules import Schedule, edm, resample_loglinear, resample_psi
from artrl.transfer import main, transfer


def _src(K: int = 10) -> Schedule:
    return Schedule(
        edm(K, 3.0, 0.0, rho=3.0, convention="paper"),
        method="art_rl",
        dataset="gauss1d",
        K=K,
        seed=7,
        config_digest="abc123",
        extra={"theta_mean": [1.0] * K},
    )


def test_transfer_keeps_provenance_and_resamples():
    src = _src(10)
    out = transfer(src, 5, method="art_rl_transfer", source="in.json")
    np.testing.assert_array_equal(out.sigmas, resample_psi(src.sigmas, 5))
    assert out.K == 5 and len(out.sigmas) == 6
    assert out.sigmas[0] == 3.0 and out.sigmas[-1] == 0.0
    assert (out.method, out.dataset, out.seed, out.config_digest) == (
        "art_rl_transfer",
        "gauss1d",
        7,
        "abc123",
    )
    assert out.extra == {
        "from": "in.json",
        "from_K": 10,
        "from_method": "art_rl",
        "resample": "psi",
    }


def test_transfer_loglinear_and_cross_dataset():
    """Tables 5 (K = 18 → K′, log-linear) and 6 (same grid on another data set) of the extended
    paper, arXiv 2607.02137."""
    src = _src(18)
    out = transfer(src, 6, method="art_rl_resampled", resample="loglinear")
    np.testing.assert_array_equal(out.sigmas, resample_loglinear(src.sigmas, 6))
    moved = transfer(src, 18, method="art_rl", dataset="afhqv2")
    np.testing.assert_array_equal(moved.sigmas, src.sigmas)  # unchanged grid
    assert moved.dataset == "afhqv2" and moved.extra["from_dataset"] == "gauss1d"
    with pytest.raises(ValueError, match="resample"):
        transfer(src, 6, method="x", resample="cubic")


def test_transfer_same_K_is_identity():
    src = _src(10)
    np.testing.assert_array_equal(transfer(src, 10, method="x").sigmas, src.sigmas)


def test_cli_writes_schedule(tmp_path):
    src_path = _src(10).save(tmp_path / "src.json")
    out = tmp_path / "sub" / "K4.json"
    main(
        [
            "--schedule",
            str(src_path),
            "--K",
            "4",
            "--method-name",
            "art_rl_from10",
            "--out",
            str(out),
        ]
    )
    sched = Schedule.load(out)
    assert sched.K == 4 and sched.method == "art_rl_from10"
    d = json.loads(out.read_text())
    assert d["extra"]["from"] == str(src_path) and d["extra"]["from_K"] == 10


def test_cli_bad_input_fails_naming_file(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "artrl.transfer",
            "--schedule",
            str(bad),
            "--K",
            "3",
            "--out",
            str(tmp_path / "o.json"),
        ],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2
    assert "bad.json" in r.stderr
    assert not (tmp_path / "o.json").exists()


@pytest.mark.parametrize("K", ["0", "-2"])
def test_cli_rejects_bad_K(tmp_path, K):
    src_path = _src(10).save(tmp_path / "src.json")
    with pytest.raises(SystemExit):
        main(["--schedule", str(src_path), "--K", K, "--out", str(tmp_path / "o.json")])


def test_transfer_to_another_sigma_max():
    """Cross-data-set matrix: the 1-D Gaussian's T = 3 grid on an image data set's T = 80."""
    src = _src(10)
    same = transfer(src, 10, method="x", dataset="digits", sigma_max=3.0)
    np.testing.assert_array_equal(same.sigmas, src.sigmas)  # same range: nothing to rescale
    assert "rescale" not in same.extra
    out = transfer(src, 5, method="x", resample="psi", dataset="digits", sigma_max=80.0)
    np.testing.assert_allclose(out.sigmas, resample_psi(src.sigmas, 5) * 80.0 / 3.0, rtol=1e-15)
    assert out.extra["rescale"] == "sigma_max" and out.extra["from_sigma_max"] == 3.0
    log = transfer(
        src,
        5,
        method="x",
        dataset="digits",
        sigma_max=80.0,
        rescale_mode="log_range",
        sigma_min=0.002,
    )
    assert log.sigmas[0] == 80.0 and log.sigmas[-2] == 0.002 and log.sigmas[-1] == 0.0
    assert log.extra["sigma_min"] == 0.002


def test_cli_rescale(tmp_path):
    src_path = _src(18).save(tmp_path / "src.json")
    out = tmp_path / "out.json"
    main(
        [
            "--schedule",
            str(src_path),
            "--K",
            "6",
            "--resample",
            "loglinear",
            "--dataset",
            "digits",
            "--sigma-max",
            "80",
            "--rescale",
            "log_range",
            "--sigma-min",
            "0.002",
            "--out",
            str(out),
        ]
    )
    s = Schedule.load(out)
    assert s.sigmas[0] == 80.0 and s.sigmas[-2] == 0.002 and s.K == 6
    with pytest.raises(SystemExit):  # log_range without --sigma-min: a clear error, exit 2
        main(
            [
                "--schedule",
                str(src_path),
                "--K",
                "6",
                "--sigma-max",
                "80",
                "--rescale",
                "log_range",
                "--out",
                str(tmp_path / "bad.json"),
            ]
        )
    assert not (tmp_path / "bad.json").exists()
