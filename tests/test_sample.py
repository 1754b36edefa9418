"""Sharded sampling (artrl.sample): seeds, determinism, shards equal an unsharded run."""

import json

import numpy as np
import pytest
import torch

from artrl.sample import generate, main, seed_latents, to_uint8_nhwc
from artrl.schedules import Schedule, edm


def test_seed_latents_are_per_seed():
    a, _ = seed_latents([3, 4, 5], (1, 4, 4))
    b, _ = seed_latents([5], (1, 4, 4))
    torch.testing.assert_close(a[2], b[0], rtol=0, atol=0)
    x, lab = seed_latents([7, 8], (1, 2, 2), n_classes=10)
    assert lab.shape == (2, 10) and torch.all(lab.sum(1) == 1)
    # EDM's own order (latent, then label, per seed): tests/test_device_policy.py


def test_uint8_rounding_matches_edm():
    x = torch.tensor([-1.0, -0.5, 0.0, 0.999, 1.2]).reshape(1, 1, 1, 5)
    np.testing.assert_array_equal(to_uint8_nhwc(x).ravel(), [0, 64, 128, 255, 255])


def test_sharded_equals_unsharded(tiny_model, tmp_path):
    from artrl.models.unet import load_model

    D = load_model(tiny_model)
    sig = edm(3, 80.0, 0.002, convention="code")
    full, seeds, calls = generate(D, sig, range(0, 12), shape=(1, 8, 8), solver="heun", batch=4)
    a, _, _ = generate(D, sig, range(0, 8), shape=(1, 8, 8), solver="heun", batch=4)
    b, _, _ = generate(D, sig, range(8, 12), shape=(1, 8, 8), solver="heun", batch=4)
    np.testing.assert_array_equal(full, np.concatenate([a, b]))
    assert calls == 5 and full.shape == (12, 8, 8, 1) and full.dtype == np.uint8
    np.testing.assert_array_equal(seeds, np.arange(12))


def test_cli_writes_shard(tiny_model, tmp_path):
    s = Schedule(edm(2, 80.0, 0.002, convention="code"), "edm", "digits", 2)
    sp = s.save(tmp_path / "s.json")
    dcfg = json.dumps({"model": {"type": "unet", "path": str(tiny_model)}, "sigma_max": 80.0})
    args = ["--dataset-config", dcfg, "--schedule", str(sp), "--solver", "euler",
            "--seeds", "0-5", "--batch", "3", "--no-progress"]  # fmt: skip
    out, again = tmp_path / "shard.npz", tmp_path / "again.npz"
    for path in (out, again):
        main([*args, "--out", str(path)])
    z = np.load(out)
    assert z["images"].shape == (6, 8, 8, 1)
    assert json.loads(str(z["meta"]))["nfe"] == 2
    np.testing.assert_array_equal(z["images"], np.load(again)["images"])  # deterministic


def test_cli_rejects_bad_seed_range(tmp_path):
    with pytest.raises(SystemExit):
        main(["--dataset-config", "{}", "--schedule", "x", "--seeds", "9-3", "--out", "o"])


@pytest.fixture
def keep_threads():
    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


def test_cli_records_numerics_in_the_shard_meta(tiny_model, tmp_path, keep_threads):
    """The shard's meta says which threads and CPU kernels computed it (issue 16); a shard
    written before that key existed is still read (artrl.cells.read_shard_meta)."""
    from artrl.cells import read_shard_meta
    from artrl.device import numerics_record
    from artrl.io import write_npz

    s = Schedule(edm(2, 80.0, 0.002, convention="code"), "edm", "digits", 2)
    sp = s.save(tmp_path / "s.json")
    dcfg = json.dumps({"model": {"type": "unet", "path": str(tiny_model)}, "sigma_max": 80.0})
    args = ["--dataset-config", dcfg, "--schedule", str(sp), "--solver", "euler",
            "--seeds", "0-1", "--batch", "2", "--no-progress"]  # fmt: skip
    for threads in (1, 2):
        out = tmp_path / f"shard{threads}.npz"
        main([*args, "--threads", str(threads), "--out", str(out)])
        meta, seeds = read_shard_meta(out)
        assert meta["numerics"] == numerics_record()
        assert meta["numerics"]["torch_threads"] == threads
        assert meta["schedule_sha256"] and list(seeds) == [0, 1]
    old = {k: v for k, v in meta.items() if k != "numerics"}
    z = np.load(out)
    write_npz(tmp_path / "old.npz", images=z["images"], seeds=z["seeds"], meta=json.dumps(old))
    assert read_shard_meta(tmp_path / "old.npz")[0] == old


def test_cli_refuses_threads_0(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["--dataset-config", "{}", "--schedule", "x", "--seeds", "0-3", "--threads", "0",
              "--out", str(tmp_path / "o.npz")])  # fmt: skip
    assert e.value.code == 2
    assert "argument --threads: must be an integer >= 1, got 0" in capsys.readouterr().err
    assert not (tmp_path / "o.npz").exists()
