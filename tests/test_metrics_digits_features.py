"""Tests for artrl.metrics.digits_features: classifier, feature extractor, digits FID."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
import torch

from artrl.data.digits import from_uint8, load_digits_images, to_uint8
from artrl.metrics import digits_features as DF
from artrl.metrics import fid as FID
from artrl.metrics.digits_features import (
    DigitsNet,
    compute_ref_stats,
    digits_feature_extractor,
    load_classifier,
    save_classifier,
    train_classifier,
)
from artrl.metrics.fid import (
    feature_stats,
    fid_from_features,
    frechet_distance,
    load_ref_stats,
    torch_threads,
)

EPOCHS = 20  # the short test configuration (the CLI default is 60)


@pytest.fixture(autouse=True)
def _one_thread():
    """One torch thread: fastest for this tiny net on a shared 2-core machine."""
    with torch_threads(1):
        yield


def _nhwc(x: torch.Tensor) -> np.ndarray:
    """[-1, 1] images [N, 1, R, R] -> uint8 shard layout [N, R, R, 1]."""
    return to_uint8(x).permute(0, 2, 3, 1).numpy()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A classifier trained once with the short config, via the CLI, plus ref stats."""
    d = tmp_path_factory.mktemp("digits_fid")
    ckpt = d / "classifier.pt"
    t0 = time.perf_counter()
    argv = ["train", "--resolution", "8", "--seed", "0", "--epochs", str(EPOCHS)]
    assert DF.main([*argv, "--no-progress", "--out", str(ckpt)]) == 0
    seconds = time.perf_counter() - t0
    ref = d / "ref_stats.npz"
    assert (
        DF.main(["ref-stats", "--classifier", str(ckpt), "--resolution", "8", "--out", str(ref)])
        == 0
    )
    return {"dir": d, "ckpt": ckpt, "ref": ref, "seconds": seconds}


def test_train_reaches_accuracy_and_writes_report(trained, capsys):
    report = json.loads((trained["dir"] / "classifier.pt.json").read_text())
    assert report["test_accuracy"] >= 0.95, report
    assert report["n_test"] + report["n_train"] == 1797
    assert report["epochs"] == EPOCHS and report["resolution"] == 8
    assert report["sha256"] == DF.file_sha256(trained["ckpt"])
    # the numerics the weights were computed with (issue 16): --threads' default, 1
    assert report["numerics"]["torch_threads"] == 1 == report["threads"]
    assert report["numerics"]["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    info = torch.load(trained["ckpt"], weights_only=True)["info"]
    assert info["numerics"] == report["numerics"]
    assert load_ref_stats(trained["ref"]).meta["numerics"]["torch_threads"] == 1
    print(f"classifier: test acc {report['test_accuracy']:.4f}, {trained['seconds']:.1f} s")


def test_architecture_runs_at_16_and_32():
    net = DigitsNet().eval()
    for r in (8, 16, 32):
        x = torch.zeros(3, 1, r, r)
        assert net(x).shape == (3, 10)
        assert net.embed(x).shape == (3, net.feat_dim)


def test_training_is_deterministic():
    x, y = load_digits_images(8, "train")
    xt, yt = load_digits_images(8, "test")
    data = (x[:256], y[:256], xt[:64], yt[:64])
    m1, i1 = train_classifier(epochs=1, seed=3, data=data, progress=False)
    m2, i2 = train_classifier(epochs=1, seed=3, data=data, progress=False)
    m3, _ = train_classifier(epochs=1, seed=4, data=data, progress=False)
    s1, s2, s3 = m1.state_dict(), m2.state_dict(), m3.state_dict()
    assert all(torch.equal(s1[k], s2[k]) for k in s1)
    assert not all(torch.equal(s1[k], s3[k]) for k in s1)
    assert i1["test_accuracy"] == i2["test_accuracy"]


def test_checkpoint_round_trip(tmp_path):
    net = DigitsNet(width=8, feat_dim=16).eval()
    info = {"resolution": 16, "note": "x"}
    p = save_classifier(tmp_path / "c.pt", net, info)
    net2, ckpt = load_classifier(p)
    assert ckpt["resolution"] == 16 and ckpt["info"] == info and net2.feat_dim == 16
    x = torch.randn(4, 1, 16, 16)
    assert torch.equal(net.embed(x), net2.embed(x))
    with pytest.raises(FileNotFoundError, match="nope.pt"):
        load_classifier(tmp_path / "nope.pt")
    # the wall time stays out of the file: the same classifier writes the same bytes
    a = save_classifier(tmp_path / "a.pt", net, {**info, "train_seconds": 7.3})
    b = save_classifier(tmp_path / "b.pt", net, {**info, "train_seconds": 7.9})
    assert a.read_bytes() == b.read_bytes()
    assert "train_seconds" not in load_classifier(a)[1]["info"]
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(ValueError, match="junk.pt"):
        load_classifier(tmp_path / "junk.pt")


def test_features_deterministic_and_layouts(trained):
    ext = digits_feature_extractor(trained["ckpt"])
    x, _ = load_digits_images(8, "test")
    u = to_uint8(x)  # torch uint8 [N, 1, 8, 8]
    f_np = ext(_nhwc(x))
    assert isinstance(f_np, np.ndarray) and f_np.dtype == np.float64
    assert f_np.shape == (len(x), ext.feat_dim)
    np.testing.assert_array_equal(f_np, ext(_nhwc(x)))  # deterministic
    ext2 = digits_feature_extractor(trained["ckpt"], batch_size=7)  # other batching, reload
    np.testing.assert_allclose(ext2(_nhwc(x)), f_np, rtol=0, atol=1e-5)
    f_t = ext(u)  # torch uint8 [N, C, H, W]
    assert isinstance(f_t, torch.Tensor) and f_t.dtype == torch.float64
    np.testing.assert_array_equal(f_t.numpy(), f_np)
    rgb = np.repeat(_nhwc(x), 3, axis=-1)  # grey stored as RGB
    np.testing.assert_array_equal(ext(rgb), f_np)
    # clean-fid's custom_feat_extractor input: float32 [N, 3, H, W] in [0, 255]
    np.testing.assert_array_equal(ext(u.repeat(1, 3, 1, 1).float()).numpy(), f_np)
    # the conversion is the data loader's
    with torch.no_grad():
        direct = ext.model.embed(from_uint8(u)).double().numpy()
    np.testing.assert_array_equal(direct, f_np)


def test_extractor_input_errors(trained):
    ext = digits_feature_extractor(trained["ckpt"])
    with pytest.raises(ValueError, match=r"16×16.*trained at 8×8"):
        ext(np.zeros((2, 16, 16, 1), np.uint8))
    with pytest.raises(ValueError, match="1 or 3 channels"):
        ext(np.zeros((2, 8, 8, 2), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        ext(np.zeros((2, 8, 8, 1), np.float32))
    with pytest.raises(TypeError):
        ext([[0]])


def test_ref_stats_full_data(trained):
    ref = load_ref_stats(trained["ref"])
    assert ref.meta["n"] == 1797 and ref.meta["split"] == "all"
    assert ref.meta["classifier_sha256"] == DF.file_sha256(trained["ckpt"])
    mu, sigma, _ = compute_ref_stats(trained["ckpt"])
    np.testing.assert_array_equal(mu, ref.mu)
    np.testing.assert_array_equal(sigma, ref.sigma)
    assert np.linalg.eigvalsh(sigma).min() > 0  # no dead features: non-singular covariance
    with pytest.raises(ValueError, match="trained at 8"):
        compute_ref_stats(trained["ckpt"], resolution=16)


def test_digits_fid_data_vs_noise(trained):
    ext = digits_feature_extractor(trained["ckpt"])
    ref = load_ref_stats(trained["ref"])
    x_te, _ = load_digits_images(8, "test")
    x_tr, _ = load_digits_images(8, "train")
    f_te, f_tr = ext(_nhwc(x_te)), ext(_nhwc(x_tr))
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, size=(len(x_te), 8, 8, 1), dtype=np.uint8)
    fid_noise = frechet_distance(*feature_stats(ext(noise)), ref.mu, ref.sigma)
    fid_test = frechet_distance(*feature_stats(f_te), ref.mu, ref.sigma)
    fid_test_train = fid_from_features(f_te, f_tr)
    assert fid_test < 0.05 * fid_noise
    assert fid_test_train < 0.05 * fid_noise
    print(
        f"digits FID: test vs ref {fid_test:.4f}, test vs train {fid_test_train:.4f}, "
        f"noise vs ref {fid_noise:.4f}"
    )


def test_fid_cli_end_to_end(trained, tmp_path):
    x, _ = load_digits_images(8, "test")
    u = _nhwc(x)
    seeds = np.arange(len(u)) + 1000
    perm = np.random.default_rng(1).permutation(len(u))
    half = len(u) // 2
    s1, s2 = tmp_path / "shard1.npz", tmp_path / "shard2.npz"
    np.savez(s1, images=u[perm[:half]], seeds=seeds[perm[:half]])
    np.savez(s2, images=u[perm[half:]], seeds=seeds[perm[half:]])
    out = tmp_path / "fid.json"
    argv = [
        "--shards",
        str(s1),
        str(s2),
        "--ref",
        str(trained["ref"]),
        "--features",
        "digits",
        "--classifier",
        str(trained["ckpt"]),
        "--blocks",
        "3",
        "--device",
        "cpu",
        "--out",
        str(out),
    ]
    assert FID.main(argv) == 0
    rep = json.loads(out.read_text())
    ext = digits_feature_extractor(trained["ckpt"])
    ref = load_ref_stats(trained["ref"])
    want = frechet_distance(*feature_stats(ext(u)), ref.mu, ref.sigma)  # seed order = data order
    assert rep["fid"] == pytest.approx(want, rel=1e-6)  # other batch size / threads
    assert rep["n_images"] == len(u) and rep["blocks"] == 3
    assert len(rep["fid_blocks"]["fids"]) == 3 and rep["ref"] == str(trained["ref"])
    assert rep["shards"] == [str(s1), str(s2)] and rep["features"] == "digits"
    assert rep["seed_min"] == 1000
    assert rep["numerics"]["torch_threads"] == 1  # --threads' default (issue 16)


def test_fid_cli_refuses_stats_of_another_classifier(trained, tmp_path, capsys):
    other = save_classifier(tmp_path / "other.pt", DigitsNet(), {"resolution": 8})
    shard = tmp_path / "s.npz"
    np.savez(shard, images=np.zeros((4, 8, 8, 1), np.uint8), seeds=np.arange(4))
    argv = [
        "--shards",
        str(shard),
        "--ref",
        str(trained["ref"]),
        "--classifier",
        str(other),
        "--out",
        str(tmp_path / "o.json"),
    ]
    assert FID.main(argv) == 2
    err = capsys.readouterr().err
    assert "other.pt" in err and str(trained["ref"]) in err


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_usable_as_clean_fid_custom_feat_extractor(trained, tmp_path):
    """clean-fid (legacy_tensorflow mode: no resize) gives the pipeline's FID."""
    from cleanfid import fid as cfid
    from PIL import Image

    x_te, _ = load_digits_images(8, "test")
    x_tr, _ = load_digits_images(8, "train")
    a, b = _nhwc(x_te[:60]), _nhwc(x_tr[:80])
    for name, imgs in (("a", a), ("b", b)):
        (tmp_path / name).mkdir()
        for i, im in enumerate(imgs):
            Image.fromarray(im[..., 0]).save(tmp_path / name / f"{i:05d}.png")
    ext = digits_feature_extractor(trained["ckpt"])
    got = cfid.compute_fid(
        str(tmp_path / "a"),
        str(tmp_path / "b"),
        mode="legacy_tensorflow",
        custom_feat_extractor=ext,
        device=torch.device("cpu"),
        num_workers=0,
        batch_size=64,
        verbose=False,
    )
    assert float(got) == pytest.approx(fid_from_features(ext(a), ext(b)), rel=1e-4)
    with pytest.raises(ValueError, match="299×299"):
        cfid.compute_fid(
            str(tmp_path / "a"),
            str(tmp_path / "b"),
            mode="clean",
            custom_feat_extractor=ext,
            device=torch.device("cpu"),
            num_workers=0,
            batch_size=64,
            verbose=False,
        )
