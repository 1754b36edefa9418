"""artrl.models.edm: EDM-format pickles load without EDM's code, JVP-Q, sampler fidelity.

The pickles are written by tests/edm_format.py in NVIDIA EDM's exact format (NVlabs/edm
``torch_utils/persistence.py``; docs/references.md §3.1) around a tiny EDM-style network with
an old-style attention ``autograd.Function``.
"""

import hashlib
import json
import math
import os
import pickle
import sys
import types

import numpy as np
import pytest
import torch
from edm_format import (
    BROKEN_LOSS_SRC,
    EasyDict,
    tiny_edm_loss,
    tiny_edm_net,
    write_edm_pickle,
    write_tiny_edm_pickle,
)

from artrl.art.dynamics import drift_and_q
from artrl.models import build
from artrl.models.edm import EDMDenoiser, EDMPickleError, load_edm
from artrl.schedules import edm as edm_schedule
from artrl.solvers import CountingDenoiser, heun

F64 = torch.float64


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny tensors: one thread is faster, and much faster on a loaded machine."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def uncond(tmp_path_factory):
    path = write_tiny_edm_pickle(tmp_path_factory.mktemp("edm") / "uncond.pkl")
    return path, tiny_edm_net()


@pytest.fixture(scope="module")
def cond(tmp_path_factory):
    path = write_tiny_edm_pickle(tmp_path_factory.mktemp("edm") / "cond.pkl", label_dim=10)
    return path, tiny_edm_net(label_dim=10)


def _no_stub_modules():
    return [m for m in sys.modules if m == "torch_utils" or m.startswith("torch_utils.")]


def _inputs(B=4, C=3, R=8, seed=1):
    g = torch.Generator().manual_seed(seed)
    sigma = torch.tensor([0.05, 0.7, 3.0, 40.0], dtype=F64)[:B]
    std = (0.5**2 + sigma**2).sqrt().view(-1, 1, 1, 1)  # σ_data = 0.5
    x = torch.randn(B, C, R, R, generator=g, dtype=F64) * std
    return x, sigma


# ----------------------------------------------------------------------------------------------
# Loading


def test_loads_like_the_in_memory_network(uncond):
    path, ref = uncond
    net = load_edm(path)
    assert _no_stub_modules() == []
    assert type(net).__name__ == "EDMPrecond" and type(net) is not type(ref)
    assert not net.training and not any(p.requires_grad for p in net.parameters())
    assert (net.img_resolution, net.img_channels, net.label_dim) == (8, 3, 0)
    assert net._init_kwargs["model_channels"] == 8  # persistent state restored as pickled
    x, sigma = _inputs()
    torch.testing.assert_close(net(x.float(), sigma), ref(x.float(), sigma), rtol=0, atol=0)

    D = EDMDenoiser(net)
    out = D(x, sigma)
    assert out.dtype == F64 and out.shape == x.shape
    torch.testing.assert_close(out, ref(x, sigma).double(), rtol=0, atol=0)
    per = torch.cat([D(x[i : i + 1], sigma[i]) for i in range(len(sigma))])  # 0-dim σ
    torch.testing.assert_close(per, out, rtol=1e-6, atol=1e-6)
    assert (D.img_channels, D.img_resolution, D.label_dim) == (3, 8, 0)
    assert (D.sigma_min, D.sigma_max) == (0.0, math.inf)
    assert torch.equal(D.round_sigma(torch.tensor(0.3, dtype=F64)), torch.tensor(0.3, dtype=F64))


def test_second_load_reuses_the_module_and_stubs_are_restored(uncond, monkeypatch):
    path, _ = uncond
    sentinel = types.ModuleType("torch_utils")  # a user's own torch_utils must survive
    monkeypatch.setitem(sys.modules, "torch_utils", sentinel)
    a, b = load_edm(path), load_edm(path)
    assert type(a) is type(b)  # module_src executed once, cached per source string
    assert sys.modules["torch_utils"] is sentinel
    assert "torch_utils.persistence" not in sys.modules


def test_conditional_labels(cond):
    path, ref = cond
    D = EDMDenoiser(load_edm(path))
    assert D.label_dim == 10
    x, sigma = _inputs()
    idx = torch.tensor([0, 3, 3, 9])
    onehot = torch.eye(10, dtype=F64)[idx]
    out = D(x, sigma, onehot)
    torch.testing.assert_close(out, ref(x, sigma, onehot).double(), rtol=0, atol=0)
    torch.testing.assert_close(D(x, sigma, idx), out, rtol=0, atol=0)  # class indices
    zeros = ref(x, sigma, torch.zeros(4, 10)).double()
    torch.testing.assert_close(D(x, sigma, None), zeros, rtol=0, atol=0)  # EDM: None → zeros
    other = D(x, sigma, torch.eye(10, dtype=F64)[(idx + 1) % 10])
    assert (other - out).abs().max() > 1e-4  # the labels matter


def test_easydict_and_broken_loss_are_handled(tmp_path):
    net = tiny_edm_net()
    net.options = EasyDict(lr=0.1, nested=EasyDict(a=1))  # pickled as dnnlib.util.EasyDict
    path = write_edm_pickle(tmp_path / "x.pkl", net, loss_fn=tiny_edm_loss(broken=True))
    assert b"artrl_no_such_module" in path.read_bytes() and "artrl_no_such" in BROKEN_LOSS_SRC
    loaded = load_edm(path)  # loss_fn's source does not import: stubbed, ema still loads
    assert loaded.options.lr == 0.1 and loaded.options.nested.a == 1
    assert isinstance(loaded.options, dict)


# ----------------------------------------------------------------------------------------------
# Errors


def test_sha256_allow_list(uncond):
    path, _ = uncond
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(EDMPickleError) as e:
        load_edm(path, sha256_allowed={"0" * 64})
    assert str(path) in str(e.value) and digest in str(e.value) and "sha256" in str(e.value)
    assert _no_stub_modules() == []
    load_edm(path, sha256_allowed={digest.upper()})
    bundle = build({"type": "edm", "path": str(path), "sha256": [digest]}, 80.0)
    assert bundle.data_shape == (3, 8, 8)
    with pytest.raises(EDMPickleError, match=digest):
        build({"type": "edm", "path": str(path), "sha256": "f" * 64}, 80.0)


def test_build_trusts_only_the_lock_file_digest(uncond, tmp_path):
    """Without model.sha256 the digest pinned at download (resources/checksums.json) decides."""
    path, _ = uncond
    lock = tmp_path / "checksums.json"
    spec = {"type": "edm", "path": str(path), "lock": str(lock)}
    with pytest.raises(ValueError, match="not pinned"):
        build(spec, 80.0)  # no lock file yet: refused before unpickling
    key = os.path.relpath(path, tmp_path)
    lock.write_text(json.dumps({key: "0" * 64}))
    with pytest.raises(EDMPickleError, match="sha256"):
        build(spec, 80.0)  # pinned digest differs from the file's
    lock.write_text(json.dumps({key: hashlib.sha256(path.read_bytes()).hexdigest()}))
    assert build(spec, 80.0).data_shape == (3, 8, 8)


def test_clear_errors(tmp_path):
    missing = tmp_path / "nope.pkl"
    with pytest.raises(FileNotFoundError, match="nope.pkl"):
        load_edm(missing)
    not_edm = tmp_path / "plain.pkl"
    not_edm.write_bytes(pickle.dumps({"net": 1}))
    with pytest.raises(EDMPickleError, match=r"plain\.pkl.*no 'ema'"):
        load_edm(not_edm)
    garbage = tmp_path / "garbage.pkl"
    garbage.write_bytes(b"PK\x03\x04 not a pickle")
    with pytest.raises(EDMPickleError, match=r"garbage\.pkl.*not a loadable EDM"):
        load_edm(garbage)
    old = write_edm_pickle(tmp_path / "v5.pkl", tiny_edm_net(), version=5)
    with pytest.raises(EDMPickleError, match=r"v5\.pkl.*persistence version 5"):
        load_edm(old)
    assert _no_stub_modules() == []
    with pytest.raises(ValueError, match="gaussian, mixture, unet, edm"):
        build({"type": "nope"}, 80.0)


# ----------------------------------------------------------------------------------------------
# Forward-mode AD (docs/references.md §3.1) and Q (arXiv 2601.18681 Eq. 8)


def test_forward_mode_needs_the_patch(uncond):
    path, ref = uncond
    x, sigma = _inputs()
    x32, t = x.float(), torch.randn(x.shape)
    with pytest.raises(RuntimeError, match="setup_context"):
        torch.func.jvp(lambda y: ref(y, sigma), (x32,), (t,))  # the old-style AttentionOp
    net = load_edm(path)
    module = sys.modules[type(net).__module__]
    assert module.AttentionOp is not module._artrl_original_AttentionOp
    out, dout = torch.func.jvp(lambda y: net(y, sigma), (x32,), (t,))
    torch.testing.assert_close(out, ref(x32, sigma), rtol=0, atol=0)
    import torch.autograd.forward_ad as fwAD

    with fwAD.dual_level():
        dual_out = fwAD.unpack_dual(net(fwAD.make_dual(x32, t), sigma)).tangent
    _, rev = torch.autograd.functional.jvp(lambda y: net(y, sigma), (x32,), (t,))
    torch.testing.assert_close(dual_out, dout, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(rev, dout, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_q_through_the_loaded_network_matches_finite_differences(cond, mode):
    """Q = d/dψ F along the flow = [D(x + hF, s − h) − …]/h / s (4th-order central FD)."""
    path, _ = cond
    D = EDMDenoiser(load_edm(path))
    T = 80.0
    x, _ = _inputs(seed=3)
    s = torch.tensor([0.5, 1.0, 2.0, 5.0], dtype=F64)
    x = x / x.flatten(1).std(1).view(-1, 1, 1, 1) * (0.25 + s**2).sqrt().view(-1, 1, 1, 1)
    psi = T - s
    labels = torch.eye(10, dtype=F64)[torch.tensor([1, 2, 5, 7])]
    F, Q = drift_and_q(D, x, psi, T, labels, mode=mode)

    e = lambda v: v.view(-1, 1, 1, 1)  # noqa: E731
    h = 0.02 * s
    with torch.no_grad():
        g = lambda k: D(x + k * e(h) * F, s - k * h, labels)  # noqa: E731
        dD = (-g(2) + 8 * g(1) - 8 * g(-1) + g(-2)) / (12 * e(h))
        F_ref = (D(x, s, labels) - x) / e(s)
    Q_fd = dD / e(s)
    torch.testing.assert_close(F, F_ref, rtol=0, atol=0)
    rel = (Q - Q_fd).flatten(1).norm(dim=1) / Q_fd.flatten(1).norm(dim=1)
    assert float(rel.max()) < 1e-4, rel


# ----------------------------------------------------------------------------------------------
# Sampler fidelity: NVlabs/edm generate.py's grid and edm_sampler (S_churn = 0)


def _edm_t_steps(net, num_steps, sigma_min=0.002, sigma_max=80.0, rho=7.0):
    """EDM's time steps, re-derived from the paper's Eq. 5: float64, round_sigma, then 0."""
    sigma_min = max(sigma_min, net.sigma_min)
    sigma_max = min(sigma_max, net.sigma_max)
    i = torch.arange(num_steps, dtype=F64)
    a, b = sigma_max ** (1 / rho), sigma_min ** (1 / rho)
    t = (a + i / (num_steps - 1) * (b - a)) ** rho
    return torch.cat([net.round_sigma(t), torch.zeros(1, dtype=F64)])


def _reference_edm_sampler(net, latents, t_steps, labels=None, S_churn=0.0, gen=None):
    """Algorithm 2 of Karras et al. (2022) as EDM runs it, step by step (here S_churn = 0)."""
    N = len(t_steps) - 1
    x_next = latents.to(F64) * t_steps[0]
    calls = 0
    for i, (t_cur, t_next) in enumerate(zip(t_steps[:-1], t_steps[1:], strict=True)):
        x_cur = x_next
        gamma = min(S_churn / N, math.sqrt(2) - 1)
        t_hat = net.round_sigma(t_cur + gamma * t_cur)
        noise = torch.randn(x_cur.shape, generator=gen, dtype=F64)
        x_hat = x_cur + (t_hat**2 - t_cur**2).sqrt() * noise
        denoised = net(x_hat, t_hat, labels).to(F64)
        calls += 1
        d_cur = (x_hat - denoised) / t_hat
        x_next = x_hat + (t_next - t_hat) * d_cur
        if i < N - 1:  # 2nd-order correction, skipped on the last step into σ = 0
            denoised = net(x_next, t_next, labels).to(F64)
            calls += 1
            d_prime = (x_next - denoised) / t_next
            x_next = x_hat + (t_next - t_hat) * (0.5 * d_cur + 0.5 * d_prime)
    return x_next, calls


@pytest.mark.parametrize("K", [2, 5, 18])
def test_edm_grid_matches_generate_py(uncond, K):
    net = load_edm(uncond[0])
    t_edm = _edm_t_steps(net, K).numpy()
    s = edm_schedule(K, sigma_max=80.0, sigma_min=0.002, rho=7.0, convention="code")
    assert s.shape == t_edm.shape and s[-1] == 0.0 == t_edm[-1] and s[0] == t_edm[0] == 80.0
    # bit for bit: the EDM row of every table runs on EDM's own t_steps
    assert np.array_equal(s, t_edm), np.abs(s - t_edm).max()


@pytest.mark.parametrize("label_dim", [0, 10])
def test_heun_reproduces_edm_sampler(uncond, cond, label_dim):
    path, _ = cond if label_dim else uncond
    net = load_edm(path)
    K = 6
    g = torch.Generator().manual_seed(7)
    latents = torch.randn(3, 3, 8, 8, generator=g)
    labels = torch.eye(10)[torch.tensor([0, 4, 9])] if label_dim else None
    t_edm = _edm_t_steps(net, K)
    ref, calls = _reference_edm_sampler(net, latents, t_edm, labels, gen=g)
    D = CountingDenoiser(EDMDenoiser(net))
    x0 = latents.to(F64) * t_edm[0]
    ours = heun(D, x0, t_edm, labels=None if labels is None else labels.double())
    torch.testing.assert_close(ours, ref, rtol=0, atol=1e-12)
    assert D.calls == calls == 2 * K - 1
    grid = edm_schedule(K, sigma_max=80.0, sigma_min=0.002, rho=7.0, convention="code")
    ours2 = heun(D, x0, grid, labels=None if labels is None else labels.double())
    torch.testing.assert_close(ours2, ref, rtol=0, atol=1e-12)
