"""artrl.smoke: the GPU smoke check, run end to end on the CPU at tiny size; the full-size
network's parameter count; the GPU-hour projection on a made-up config, by hand."""

import json
import math
import time
from pathlib import Path

import pytest
import torch

from artrl.smoke import UnitCosts, main, project_gpu_hours

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def keep_threads():
    """main(--threads 1) sets torch's thread count for the process: put it back."""
    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


def _positive(v) -> bool:
    return isinstance(v, int | float) and math.isfinite(v) and v > 0


def test_tiny_run_on_the_cpu(tmp_path, keep_threads, capsys):
    t0 = time.perf_counter()
    argv = ["--device", "cpu", "--size", "tiny", "--out", str(tmp_path)]
    assert main([*argv, "--config", str(REPO / "config.yaml"), "--threads", "1"]) == 0
    elapsed = time.perf_counter() - t0
    r = json.loads((tmp_path / "smoke.json").read_text())
    for key in (
        "device", "device_name", "parameters", "network", "art_rl_resume", "art_rl_iteration",
        "q_profile", "sampling", "fid", "jvp", "peak_gpu_memory_bytes", "projection",
        "projection_core_only", "step_seconds", "seconds_total",
    ):  # fmt: skip
        assert key in r, key
    assert r["device"] == "cpu" and r["peak_gpu_memory_bytes"] == "n/a"
    assert r["parameters"] > 0 and r["network"]["deleted"]
    assert not Path(r["network"]["path"]).exists()
    res = r["art_rl_resume"]
    assert (res["stopped_at"], res["resumed_from"], res["final_iteration"]) == (2, 2, 3)
    assert res["matches_uninterrupted"] is True  # bit for bit on the CPU
    it = r["art_rl_iteration"]
    assert (it["K"], it["batch"]) == (18, 64)
    for k in ("bank_build_s", "log_clock_iteration_s", "log_clock_step_s"):
        assert _positive(it[k]), k
    assert _positive(it["sigma_clock_iteration_s"])
    smp = r["sampling"]
    assert smp["nfe"] == 35 and smp["images"] == 8
    assert _positive(smp["images_per_s"]) and _positive(smp["s_per_image_nfe"])
    assert math.isfinite(r["fid"]["fid"]) and r["fid"]["n_images"] == 8
    jv = r["jvp"]
    assert jv["batch"] == 2 and jv["jvp_mode"] == "forward"  # the patched attention
    for k in ("forward_s", "drift_and_q_s", "drift_q_heun_s"):
        assert _positive(jv[k]), k
    assert set(r["step_seconds"]) == {
        "network", "art_rl_resume", "art_rl_iteration", "q_profile", "sampling", "fid", "jvp",
    }  # fmt: skip
    pr = r["projection"]
    assert set(pr["tables"]) == {"heun", "euler", "resampled"}  # config.yaml's cifar10
    assert pr["samples_per_cell"] == 50000
    assert all(_positive(t["gpu_hours"]) for t in pr["tables"].values())
    assert "art_rl@K18" in pr["art_rl_jobs"] and _positive(pr["total_gpu_hours"]["all"])
    assert r["projection_core_only"]["total_gpu_hours"]["all"] < pr["total_gpu_hours"]["all"]
    out = capsys.readouterr().out
    assert "PROJECTED GPU-hours" in out and "not measurements" in out
    assert out.count(" s\n") >= 7 and out.count(": done in ") == 7  # each step's wall time
    assert (tmp_path / "stand_in_inception.pt").is_file()
    assert elapsed < 60


def test_help_and_missing_cuda(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    assert "python -m artrl.smoke" in capsys.readouterr().out
    if torch.cuda.is_available():
        return
    with pytest.raises(SystemExit) as e:
        main(["--device", "cuda", "--size", "tiny"])
    assert e.value.code == 2
    assert "CUDA is not available" in capsys.readouterr().err


def test_full_size_network_parameter_count():
    """EDM's edm-cifar10-32x32-cond-vp has about 56 M parameters; ours is within ±25 %."""
    from artrl.models.edm_writer import cifar10_edm_net, parameter_count

    net = cifar10_edm_net()
    n = parameter_count(net)
    assert 42e6 <= n <= 70e6, n
    assert (net.img_resolution, net.img_channels, net.label_dim) == (32, 3, 10)
    assert type(net.model).__name__ == "UNet"


# ----------------------------------------------------------------------------------------------
# The projection, on a made-up config with hand-computed numbers

UNIT = UnitCosts(image_nfe=1.0, drift_q=3.0, drift_q_heun=9.0, log_step=0.5)
ART = {"bank_paths": 8, "bank_points": 4, "iterations": 5}
ENDS = {"convention": "code", "sigma_min": 0.002}


def _made_up():
    sigma = {"clock": "sigma", "iterations": 10, "batch": 4}
    return {
        "sigma_max": 80.0,
        "solvers": {"euler": [2, 4], "heun": [3]},
        "tables": {"resampled": {"solver": "heun", "K": [2], "schedules": ["edm", "rl_res"]}},
        "schedules": {
            "edm": {"method": "edm"},
            "rl": {"method": "art_rl"},
            "rl_res": {"method": "art_rl_transfer", "source": "rl", "from_K": 3, "table": False},
            "ana": {"method": "art_analytic", "analytic": {"proxy": "heun"}, "extra": True},
            "sig": {"method": "art_rl", "art": sigma, "extra": True},
            "gits_euler": {"method": "gits", "solver": "euler", "extra": True},
            # another data set's run: that data set's cost
            "other": {"method": "art_rl_transfer", "source_dataset": "x", "from_K": 18},
        },
        "art": ART,
        "analytic": {"rollouts": 2, "fine_steps": 3, **ENDS},
        "fid": {"samples": 100},
    }


def test_projection_by_hand():
    p = project_gpu_hours(_made_up(), UNIT, dataset="made_up")
    t = p["tables"]
    assert list(t) == ["heun", "euler", "resampled"]  # heun first, then the extra tables
    # heun: edm, rl, ana, sig, other (gits_euler is made for Euler; rl_res has table: false)
    # x K = 3 (NFE 5) x 100 samples
    assert (t["heun"]["cells"], t["heun"]["image_nfe"]) == (5, 5 * 100 * 5)
    # euler: the same rows and gits_euler, x K = 2, 4 (NFE = K)
    assert (t["euler"]["cells"], t["euler"]["image_nfe"]) == (12, 6 * 100 * (2 + 4))
    # resampled: edm, rl_res x K = 2 (Heun NFE 3)
    assert (t["resampled"]["cells"], t["resampled"]["image_nfe"]) == (2, 2 * 100 * 3)
    assert t["heun"]["gpu_hours"] == pytest.approx(2500 / 3600)
    assert t["heun"]["art_rl_jobs"] == ["rl@K3", "sig@K3"]
    assert t["resampled"]["art_rl_jobs"] == ["rl@K3"]  # the K = 18-style source, from_K
    jobs = p["art_rl_jobs"]
    assert sorted(jobs) == ["rl@K2", "rl@K3", "rl@K4", "sig@K2", "sig@K3", "sig@K4"]
    # scale-free clock: bank 8 paths x (5 F-and-Q nodes x 3 s + 4 predictors x 1 s) = 152 s,
    # iterations 5 x K_l (= K - 1, code convention) x 0.5 s
    for K in (2, 3, 4):
        j = jobs[f"rl@K{K}"]
        assert j["clock"] == "log"
        assert j["bank_gpu_hours"] == pytest.approx(152 / 3600)
        assert j["gpu_hours"] == pytest.approx((152 + 5 * (K - 1) * 0.5) / 3600)
    # σ-clock: 10 iterations x 4 trajectories x K F-and-Q calls x 3 s, no warm start
    for K in (2, 3, 4):
        assert jobs[f"sig@K{K}"]["gpu_hours"] == pytest.approx(10 * 4 * K * 3 / 3600)
    # q-profile with the Heun proxy: 2 rollouts x (4 nodes x 9 s + 2 predictors x 3 s)
    assert p["q_profile_gpu_hours"] == pytest.approx(2 * (4 * 9 + 2 * 3) / 3600)
    tot = p["total_gpu_hours"]
    assert tot["sampling"] == pytest.approx((2500 + 3600 + 600) / 3600)
    assert tot["art_rl"] == pytest.approx((152 * 3 + 2.5 * (1 + 2 + 3) + 120 * (2 + 3 + 4)) / 3600)
    assert tot["all"] == pytest.approx((6700 + 471 + 1080 + 84) / 3600)
    assert "PROJECTIONS" in p["note"]


def test_projection_core_only_and_heun_proxy_jobs():
    core = project_gpu_hours(_made_up(), UNIT, dataset="made_up", core_only=True)
    # without the extra rows: edm, rl, other per solver table; no σ-clock run, no q-profile
    assert core["tables"]["heun"]["image_nfe"] == 3 * 100 * 5
    assert core["tables"]["euler"]["image_nfe"] == 3 * 100 * 6
    assert sorted(core["art_rl_jobs"]) == ["rl@K2", "rl@K3", "rl@K4"]
    assert core["q_profile_gpu_hours"] == 0.0
    assert core["total_gpu_hours"]["all"] == pytest.approx((1500 + 1800 + 600 + 471) / 3600)

    heun_sigma = {"clock": "sigma", "proxy": "heun", "init_schedule": "edm"}
    cfg = {
        "solvers": {"heun": [3]},
        "schedules": {
            "rlh": {"method": "art_rl", "art": {"proxy": "heun"}},
            "sigh": {
                "method": "art_rl",
                "art": {**heun_sigma, "actor_output": "exp", "iterations": 10, "batch": 4},
            },
        },
        "art": ART,
        "analytic": ENDS,
        "fid": {"samples": 100},
    }
    p = project_gpu_hours(cfg, UNIT, dataset="made_up")
    assert p["tables"]["heun"]["image_nfe"] == 2 * 100 * 5
    # the Heun proxy's bank adds R̃ at its 5 nodes: 8 x 5 x 9 s
    rlh = p["art_rl_jobs"]["rlh@K3"]
    assert rlh["bank_gpu_hours"] == pytest.approx((152 + 360) / 3600)
    assert rlh["gpu_hours"] == pytest.approx((512 + 5 * 2 * 0.5) / 3600)
    # σ-clock, Heun proxy: a trajectory is 2 F,Q,R̃ steps (9 s) and the Euler last (3 s) = 21 s;
    # 10 x 4 trajectories, and the warm start's max(4, 16) = 16
    sigh = p["art_rl_jobs"]["sigh@K3"]
    assert sigh["iterations_gpu_hours"] == pytest.approx(840 / 3600)
    assert sigh["warm_start_gpu_hours"] == pytest.approx(336 / 3600)
    assert sigh["gpu_hours"] == pytest.approx(1176 / 3600)
