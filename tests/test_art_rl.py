"""ART-RL (Algorithm 1): configuration, one update, checkpoints and resume."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from artrl.art.rl import ARTConfig, CheckpointRefused, TrainingDiverged
from artrl.art.train import main as train_main
from artrl.art.train import make_trainer

DCFG = {"model": {"type": "gaussian", "std": 1.0, "dim": 1}, "sigma_max": 3.0}


def small(**kw):
    art = dict(
        clock="sigma",  # this file tests the paper's clock (artrl.art.rl); tests/test_art_logrl.py
        batch=16,
        iterations=12,
        checkpoint_every=4,
        hidden=16,
        distill_trajectories=64,
        lr_actor=1e-3,
        lr_critic=1e-3,
        lr_gamma=1e-2,
    )
    art.update(kw)
    return {**DCFG, "art": art}


def test_config_rejects_unknown_and_mistyped_keys():
    with pytest.raises(KeyError, match="lr_actr"):
        ARTConfig.from_dict({"lr_actr": 1e-3})
    with pytest.raises(TypeError, match="batch"):
        ARTConfig.from_dict({"batch": "many"})
    assert ARTConfig.from_dict({"lam": 1}).lam == 1.0


def test_paper_defaults():
    c = ARTConfig()
    assert (c.lam, c.eps, c.lr_actor, c.lr_critic, c.lr_gamma) == (0.1, 1e-6, 1e-4, 1e-4, 1e-4)
    assert (c.hidden, c.layers, c.iterations, c.td_lambda, c.gamma_kp) == (128, 3, 5000, 0.0, 0.0)


def test_rollout_shapes_budget_and_policy_variance():
    tr = make_trainer(small(), K=10, seed=0)
    ro = tr.rollout(16)
    assert ro.theta.shape == (10, 16) and ro.feats.shape == (10, 16, 3)
    # budget is the unclipped Σ θ_k Δt; the policy variance is λ / max(|Q|, ε) (Eq. 11)
    torch.testing.assert_close(ro.budget, ro.theta.sum(0) * 0.3)
    torch.testing.assert_close(ro.var, 0.1 / ro.qn.clamp_min(1e-6))
    assert bool((ro.psi_T <= 3.0).all()) and bool((ro.psi_T >= 0).all())


def test_lagrange_step_is_eq23():
    tr = make_trainer(small(lr_gamma=0.5, gamma_kp=0.0), K=10, seed=0)
    ro = tr.rollout(16)
    tr.update(ro)
    assert math.isclose(tr.gamma, 0.5 * (float(ro.budget.mean()) - 3.0), rel_tol=1e-12)


def test_critic_update_follows_td_error_sign():
    # With the actor frozen (warm-up), one critic step must reduce the TD error on the batch.
    tr = make_trainer(small(critic_warmup=100, lr_critic=1e-2), K=10, seed=0)
    ro = tr.rollout(16)
    before = tr.update(ro)["td_rmse"]
    after = tr.update(ro)["td_rmse"]
    assert after < before


def test_divergence_is_reported_clearly():
    tr = make_trainer(small(), K=5, seed=0)
    ro = tr.rollout(4)
    ro.theta[0, 0] = float("nan")
    with pytest.raises(TrainingDiverged, match="iteration 1"):
        tr.update(ro)


def test_killed_and_resumed_run_equals_uninterrupted(tmp_path):
    cfg = small()
    import json

    js = json.dumps(cfg)
    a, b = tmp_path / "a", tmp_path / "b"
    train_main(["--dataset-config", js, "--K", "8", "--out-dir", str(a), "--no-progress"])
    # interrupted after the checkpoint at iteration 4 (the state is that of a kill right after
    # it), then rerun with the same command
    train_main(
        [
            "--dataset-config",
            js,
            "--K",
            "8",
            "--out-dir",
            str(b),
            "--no-progress",
            "--stop-after",
            "6",
        ]
    )
    assert (b / "checkpoint.pt").exists() and not (b / "rollouts.npz").exists()
    ck = torch.load(b / "checkpoint.pt", weights_only=True)
    assert ck["iteration"] == 6
    train_main(["--dataset-config", js, "--K", "8", "--out-dir", str(b), "--no-progress"])
    za, zb = np.load(a / "rollouts.npz"), np.load(b / "rollouts.npz")
    np.testing.assert_array_equal(za["theta"], zb["theta"])
    np.testing.assert_array_equal(za["mu"], zb["mu"])
    assert float(za["gamma"]) == float(zb["gamma"])
    assert (a / "train_log.csv").read_text() == (b / "train_log.csv").read_text()


def test_sigkill_between_checkpoints_replays_from_the_last_one(tmp_path):
    # A SIGKILL at iteration 7 leaves the checkpoint of iteration 4 (checkpoint_every = 4):
    # the rerun replays 5..12 from it and ends bit-identical to an uninterrupted run.
    import json

    js = json.dumps(small())
    a, b = tmp_path / "a", tmp_path / "b"
    train_main(["--dataset-config", js, "--K", "8", "--out-dir", str(a), "--no-progress"])
    train_main(
        [
            "--dataset-config",
            js,
            "--K",
            "8",
            "--out-dir",
            str(b),
            "--no-progress",
            "--stop-after",
            "4",
        ]
    )
    train_main(["--dataset-config", js, "--K", "8", "--out-dir", str(b), "--no-progress"])
    np.testing.assert_array_equal(
        np.load(a / "rollouts.npz")["theta"], np.load(b / "rollouts.npz")["theta"]
    )


def test_checkpoint_from_other_config_is_not_resumed(tmp_path):
    # A config change (here the actor's learning rate) must start afresh, not continue the old
    # run: the result equals a clean run with the new config.
    import json

    old, new = small(), small(lr_actor=5e-3)
    d, clean = tmp_path / "d", tmp_path / "clean"
    train_main(
        ["--dataset-config", json.dumps(old), "--K", "8", "--out-dir", str(d), "--no-progress"]
    )
    train_main(
        ["--dataset-config", json.dumps(new), "--K", "8", "--out-dir", str(d), "--no-progress"]
    )
    train_main(
        ["--dataset-config", json.dumps(new), "--K", "8", "--out-dir", str(clean), "--no-progress"]
    )
    np.testing.assert_array_equal(
        np.load(d / "rollouts.npz")["theta"], np.load(clean / "rollouts.npz")["theta"]
    )
    with pytest.raises(ValueError, match="lr_actor"):
        tr = make_trainer(old, K=8, seed=0)
        tr.load_checkpoint(d / "checkpoint.pt")


def test_sigterm_writes_checkpoint_and_exits_143(tmp_path):
    import os
    import signal

    tr = make_trainer(small(checkpoint_every=100), K=6, seed=0)
    step = tr.step

    def step_then_term():
        out = step()
        if tr.iteration == 3:
            os.kill(os.getpid(), signal.SIGTERM)  # what SLURM sends at the time limit
        return out

    tr.step = step_then_term
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(SystemExit) as e:
        tr.train(tmp_path / "ck.pt", progress=False, log=lambda *_: None)
    assert e.value.code == 143
    assert torch.load(tmp_path / "ck.pt", weights_only=True)["iteration"] == 3
    assert signal.getsignal(signal.SIGTERM) is before  # the handler is restored


def test_warm_start_fits_the_edm_clock():
    """init_schedule=edm: before Algorithm 1 the actor's mean reproduces EDM's clock
    θ_k = (σ_k − σ_{k+1})/Δt along that clock's own states."""
    from artrl.schedules import edm

    cfg = small(init_schedule="edm", init_sigma_min=0.05, actor_output="exp", init_steps=400)
    tr = make_trainer(cfg, K=8, seed=0)
    target = -np.diff(edm(8, 3.0, 0.05, rho=7.0, convention="code")) / (3.0 / 8)
    np.testing.assert_allclose(tr.init_clock(), target, rtol=1e-12)
    before = tr.mean(tr.rollout(4).feats).detach().numpy()
    assert np.allclose(before, 1.0, atol=0.05)  # the uniform start θ ≡ 1
    rel = tr.warm_start()
    assert rel < 0.1, rel
    # the fitted actor, run deterministically from x_T, follows EDM's grid
    tr.cfg.lam = 0.0
    ro = tr.rollout(4)
    np.testing.assert_allclose(ro.mu.mean(1).numpy(), target, rtol=0.25)
    assert abs(float(ro.budget.mean()) - 3.0) < 0.15


def test_warm_start_runs_once_and_is_deterministic(tmp_path):
    cfg = small(init_schedule="edm", init_sigma_min=0.05, actor_output="exp", init_steps=50)
    logs = []
    for run in ("a", "b"):
        tr = make_trainer(cfg, K=6, seed=3)
        tr.train(tmp_path / run / "ck.pt", progress=False, log=logs.append)
    assert sum("fitted to the edm clock" in m for m in logs) == 2
    a = torch.load(tmp_path / "a" / "ck.pt", weights_only=True)
    b = torch.load(tmp_path / "b" / "ck.pt", weights_only=True)
    for k in a["actor"]:
        torch.testing.assert_close(a["actor"][k], b["actor"][k], rtol=0, atol=0)
    with pytest.raises(ValueError, match="init_schedule"):
        make_trainer(small(init_schedule="karras"), K=4, seed=0).init_clock()
    with pytest.raises(ValueError, match="actor_output: exp"):
        make_trainer(small(init_schedule="edm"), K=4, seed=0).warm_start()


# ---------------------------------------------------------------- ablations (issue "methods")


def test_fixed_variance_ablation_is_state_independent():
    """variance: fixed draws θ ~ N(μ, λ) (or fixed_var) instead of Eq. 11's λ / (|Q| ∨ ε)."""
    ro = make_trainer(small(variance="fixed"), K=10, seed=0).rollout(16)
    assert float(ro.qn.std()) > 0  # |Q| does vary over the states ...
    torch.testing.assert_close(ro.var, torch.full_like(ro.var, 0.1))  # ... the variance not
    ro = make_trainer(small(variance="fixed", fixed_var=0.02), K=10, seed=0).rollout(16)
    torch.testing.assert_close(ro.var, torch.full_like(ro.var, 0.02))
    with pytest.raises(ValueError, match="variance"):
        make_trainer(small(variance="constant"), K=10, seed=0)


def test_time_only_actor_sees_t_alone():
    """actor_inputs: time: μ depends on t only (column 0 of the features); the critic keeps
    the state features. The state actor, for contrast, gives different μ at the same t."""
    tr = make_trainer(small(actor_inputs="time"), K=10, seed=0)
    assert tr.actor.net[0].in_features == 1 and tr.critic.net[0].in_features == 3
    torch.nn.init.normal_(tr.actor.net[-1].weight)  # a non-constant actor
    feats = tr.rollout(16).feats  # [K, B, 3]: one t per row, many (x, ψ)
    mu = tr.mean(feats).detach()
    torch.testing.assert_close(mu, mu[:, :1].expand_as(mu))
    assert float(feats[..., 2].std(dim=1).min()) > 0  # the states differed
    state = make_trainer(small(), K=10, seed=0)
    torch.nn.init.normal_(state.actor.net[-1].weight)
    mu_s = state.mean(feats).detach()
    assert float((mu_s - mu_s[:, :1]).abs().max()) > 1e-6
    with pytest.raises(ValueError, match="actor_inputs"):
        make_trainer(small(actor_inputs="x"), K=10, seed=0)


def test_trainer_counts_denoiser_evaluations_across_resume(tmp_path):
    """Every rollout step calls D once for F and once inside the JVP of Q: 2·B·K evaluations
    per iteration; the count survives a checkpoint and resume (the tables' cost column)."""
    K, B = 5, 16
    tr = make_trainer(small(batch=B, jvp_mode="reverse"), K=K, seed=0)
    tr.rollout(B)
    per_rollout = tr.D.evals
    assert per_rollout == 2 * B * K
    full = make_trainer(small(batch=B, jvp_mode="reverse"), K=K, seed=0)
    full.train(tmp_path / "a.pt", progress=False)
    assert full.D.evals == 12 * per_rollout
    part = make_trainer(small(batch=B, jvp_mode="reverse"), K=K, seed=0)
    part.train(tmp_path / "b.pt", stop_after=8, progress=False)
    rest = make_trainer(small(batch=B, jvp_mode="reverse"), K=K, seed=0)
    rest.train(tmp_path / "b.pt", progress=False)
    assert rest.D.evals == full.D.evals


def test_cost_scale_multiplies_the_running_cost():
    """cost_scale: the same rollout, the running cost (art_cost) times the factor."""
    a = make_trainer(small(), K=6, seed=0)
    b = make_trainer(small(cost_scale=2.5), K=6, seed=0)
    ro = a.rollout(16)
    sa, sb = a.update(ro), b.update(ro)
    assert math.isclose(sb["art_cost"], 2.5 * sa["art_cost"], rel_tol=1e-12)


# ---------------------------------------------------------------- checkpoints: plain tensors only


class _Payload:
    """What a crafted checkpoint smuggles in: unpickling it creates ``marker``."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_a_crafted_checkpoint_is_refused_and_runs_nothing(tmp_path, capsys):
    import json
    import pickle

    live = tmp_path / "live"
    pickle.loads(pickle.dumps(_Payload(live)))  # the payload is live: plain unpickling runs it
    assert live.exists()
    out, marker = tmp_path / "art", tmp_path / "PWNED"
    out.mkdir()
    ck = out / "checkpoint.pt"
    torch.save({"x": _Payload(marker)}, ck)  # placed where the trainer resumes from
    argv = ["--dataset-config", json.dumps(small()), "--K", "6", "--out-dir", str(out)]
    capsys.readouterr()
    with pytest.raises((CheckpointRefused, SystemExit)) as e:  # SystemExit: "error: ..."
        train_main([*argv, "--no-progress"])
    msg = str(e.value)
    if isinstance(e.value, SystemExit):  # the message on stderr, or as the exit "code"
        code = e.value.code
        msg = capsys.readouterr().err.strip() if isinstance(code, int) else str(code)
        assert code != 0 and msg.startswith("error: ")
        msg = msg.removeprefix("error: ")
    assert "\n" not in msg
    assert msg.startswith(f"{ck}: ") and "plain-tensor" in msg and "contain code" in msg
    assert "Delete it to restart training from scratch" in msg
    assert "it references getattr" in msg and "weights_only" not in msg
    assert not marker.exists()
    assert not (out / "rollouts.npz").exists()  # the run stopped: nothing trained
    # a checkpoint of the old format (numpy arrays inside) is refused the same way
    tr = make_trainer(small(), K=6, seed=0)
    torch.save({**tr.state_dict(), "buffer_theta": np.zeros((0, 6))}, ck)
    with pytest.raises(CheckpointRefused, match="numpy.*Delete it"):
        tr.train(ck, progress=False, log=lambda *_: None)
    torch.save({**tr.state_dict(), "config": {"K": 6}}, ck)  # a config dict, not JSON
    with pytest.raises(CheckpointRefused, match="'config' is not a JSON string"):
        tr.load_checkpoint(ck)


def _clock_cfg(clock):
    if clock == "sigma":
        return small(iterations=6, checkpoint_every=2)
    art = dict(clock="log", jvp_mode="reverse", iterations=6, batch=4, hidden=16)
    art.update(checkpoint_every=2, distill_frac=1.0, bank_paths=16, bank_points=32)
    return {**DCFG, "art": art}


@pytest.mark.parametrize("clock", ["sigma", "log"])
def test_checkpoint_is_plain_tensors_and_resumes_bit_for_bit(tmp_path, clock):
    cfg = _clock_cfg(clock)
    ck = tmp_path / "ck.pt"
    part = make_trainer(cfg, K=4, seed=0)
    part.train(ck, stop_after=3, progress=False, log=lambda *_: None)
    part.history[0]["np_scalar"] = np.float32(0.5)  # numpy scalars in the history: JSON floats
    part.save_checkpoint(ck)
    sd = torch.load(ck, weights_only=True)  # tensors, numbers and strings only
    assert isinstance(sd["config"], str) and isinstance(sd["history"], str)
    buffers = [k for k in sd if k.startswith("buffer_")]
    assert all(isinstance(sd[k], torch.Tensor) and sd[k].dtype == torch.float64 for k in buffers)
    again = make_trainer(cfg, K=4, seed=0)
    assert again.config_mismatch(sd) == [] and again.config_mismatch(part.state_dict()) == []
    again.load_checkpoint(ck)
    assert again.history == part.history and again.iteration == 3
    for k in buffers:
        a, b = getattr(again, k), getattr(part, k)
        assert isinstance(a, np.ndarray) and a.dtype == np.float64 and a.shape == b.shape
        np.testing.assert_array_equal(a, b)
    del part.history[0]["np_scalar"], again.history[0]["np_scalar"]
    again.save_checkpoint(ck)
    again.train(ck, progress=False, log=lambda *_: None)
    whole = make_trainer(cfg, K=4, seed=0)
    whole.train(None, progress=False, log=lambda *_: None)
    assert again.iteration == whole.iteration == 6 and again.history == whole.history
    for k in buffers:
        np.testing.assert_array_equal(getattr(again, k), getattr(whole, k))
    for a, b in zip(whole.actor.parameters(), again.actor.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    # the same state writes the same bytes (the archive is not named after a temporary file)
    whole.save_checkpoint(tmp_path / "a.pt")
    whole.save_checkpoint(tmp_path / "b.pt")
    assert (tmp_path / "a.pt").read_bytes() == (tmp_path / "b.pt").read_bytes()


def test_rollouts_record_the_numerics_and_distill_keeps_them(tmp_path):
    """Issue 16: rollouts.npz says which torch threads / CPU kernels trained the policy, and
    the distilled schedule carries that record in its ``extra`` (and still loads for its slot)."""
    import json

    from artrl.art.distill import main as distill_main
    from artrl.device import numerics_record
    from artrl.schedules import load_for_slot

    n = torch.get_num_threads()
    try:
        js = json.dumps(small())
        train_main(["--dataset-config", js, "--K", "8", "--out-dir", str(tmp_path), "--threads",
                    "2", "--no-progress"])  # fmt: skip
        assert torch.get_num_threads() == 2
        rec = json.loads(str(np.load(tmp_path / "rollouts.npz")["numerics"]))
        assert rec == numerics_record() and rec["torch_threads"] == 2
    finally:
        torch.set_num_threads(n)
    out = distill_main(["--rollouts", str(tmp_path / "rollouts.npz"), "--dataset", "g",
                        "--out", str(tmp_path / "s.json")])  # fmt: skip
    s = load_for_slot(out, {"dataset": "g", "K": 8})
    assert s.extra["numerics"] == rec


def test_threads_0_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        train_main(["--dataset-config", "{}", "--K", "4", "--out-dir", str(tmp_path / "o"),
                    "--threads", "0"])  # fmt: skip
    assert e.value.code == 2
    assert "argument --threads: must be an integer >= 1, got 0" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
