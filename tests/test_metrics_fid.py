"""Tests for artrl.metrics.fid: Fréchet distance, statistics, blocks, shards, reference files."""

from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from artrl.metrics import fid as F
from artrl.metrics.fid import (
    FeatureArgs,
    InceptionFeatureExtractor,
    build_feature_extractor,
    feature_stats,
    fid_blocks,
    fid_from_features,
    frechet_distance,
    load_ref_stats,
    load_shards,
    save_ref_stats,
)


def _random_feats(rng, n, d, shift=0.0, scale=1.0):
    a = rng.normal(size=(d, d)) / np.sqrt(d)
    return (rng.normal(size=(n, d)) @ a) * scale + shift


def _reference_fid(f1, f2):
    """Independent float64 FID: tr((Σ1Σ2)^{1/2}) = Σ sqrt(eig(√Σ1 Σ2 √Σ1))."""
    mu1, mu2 = f1.mean(0), f2.mean(0)
    s1 = np.atleast_2d(np.cov(f1.T, ddof=1))
    s2 = np.atleast_2d(np.cov(f2.T, ddof=1))
    w, v = np.linalg.eigh(s1)
    r1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    m = r1 @ s2 @ r1
    tr_sqrt = np.sum(np.sqrt(np.clip(np.linalg.eigvalsh((m + m.T) / 2), 0, None)))
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * tr_sqrt)


@pytest.mark.parametrize("d", [1, 5, 32])
def test_fid_matches_independent_computation(d):
    rng = np.random.default_rng(d)
    f1 = _random_feats(rng, 400, d)
    f2 = _random_feats(rng, 300, d, shift=0.3, scale=1.5)
    got = fid_from_features(f1, f2)
    want = _reference_fid(f1, f2)
    assert got == pytest.approx(want, rel=1e-6)
    assert isinstance(got, float)


def test_fid_diagonal_closed_form():
    mu1, mu2 = np.array([0.0, 1.0, -2.0]), np.array([0.5, 1.0, 0.0])
    v1, v2 = np.array([1.0, 4.0, 0.25]), np.array([2.0, 1.0, 0.25])
    want = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(v1) - np.sqrt(v2)) ** 2)
    got = frechet_distance(mu1, np.diag(v1), mu2, np.diag(v2))
    assert got == pytest.approx(want, rel=1e-12)


def test_fid_identical_sets_is_zero():
    rng = np.random.default_rng(0)
    f = _random_feats(rng, 500, 16)
    assert abs(fid_from_features(f, f)) < 1e-6
    assert abs(fid_from_features(f, f.copy()[::-1])) < 1e-6  # order does not matter


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_fid_agrees_with_clean_fid():
    from cleanfid.fid import frechet_distance as cf_frechet

    rng = np.random.default_rng(1)
    f1, f2 = _random_feats(rng, 200, 8), _random_feats(rng, 250, 8, shift=0.2)
    mu1, s1 = feature_stats(f1)
    mu2, s2 = feature_stats(f2)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(
        float(cf_frechet(mu1, s1, mu2, s2)), rel=1e-9
    )


def test_feature_stats_float64_and_unbiased():
    f = np.arange(12, dtype=np.float32).reshape(4, 3) ** 1.5
    mu, sigma = feature_stats(f)
    assert mu.dtype == np.float64 and sigma.dtype == np.float64
    np.testing.assert_allclose(sigma, np.cov(f.astype(np.float64), rowvar=False, ddof=1))
    with pytest.raises(ValueError, match="at least 2"):
        feature_stats(f[:1])
    with pytest.raises(ValueError, match=r"\[N, D\]"):
        feature_stats(f.ravel())


def test_singular_product_retries_with_offset(monkeypatch):
    calls = []
    real = F._sqrtm

    def fake(a):
        calls.append(a.copy())
        if len(calls) == 1:
            return np.full_like(a, np.nan)
        return real(a)

    monkeypatch.setattr(F, "_sqrtm", fake)
    s = np.diag([1.0, 0.0])  # singular
    got = frechet_distance(np.zeros(2), s, np.zeros(2), s, eps=1e-6)
    assert len(calls) == 2
    np.testing.assert_allclose(calls[1], (s + 1e-6 * np.eye(2)) @ (s + 1e-6 * np.eye(2)))
    assert np.isfinite(got) and abs(got) < 1e-5


def test_rank_deficient_covariances_give_finite_fid():
    rng = np.random.default_rng(3)
    f1 = np.c_[rng.normal(size=(50, 3)), np.zeros((50, 2))]  # two constant features
    f2 = np.c_[rng.normal(size=(60, 3)) + 0.1, np.zeros((60, 2))]
    assert fid_from_features(f1, f2) == pytest.approx(_reference_fid(f1, f2), abs=1e-6)


def test_a_complex_sqrtm_keeps_its_real_part_as_edm_and_says_how_large_the_rest_was(
    monkeypatch,
):
    monkeypatch.setattr(F, "_sqrtm", lambda a: np.eye(len(a)) * (0.5 + 0.25j))
    with pytest.warns(RuntimeWarning, match="imaginary part up to 0.25 .*real part is used"):
        fid = frechet_distance(np.zeros(2), np.eye(2), np.zeros(2), np.eye(2))
    assert fid == pytest.approx(2 + 2 - 2 * 1.0)  # tr Σ1 + tr Σ2 − 2 tr Re(√)
    monkeypatch.setattr(F, "_sqrtm", lambda a: np.eye(len(a)) * (1 + 1e-9j))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # round-off: no warning
        assert frechet_distance(np.zeros(2), np.eye(2), np.zeros(2), np.eye(2)) == pytest.approx(0)


def test_shape_mismatch_errors():
    with pytest.raises(ValueError, match="mean vectors"):
        frechet_distance(np.zeros(2), np.eye(2), np.zeros(3), np.eye(3))
    with pytest.raises(ValueError, match="covariances"):
        frechet_distance(np.zeros(2), np.eye(3), np.zeros(2), np.eye(2))


def test_fid_blocks_disjoint_consecutive():
    rng = np.random.default_rng(4)
    feats = _random_feats(rng, 32, 4)
    mu, sigma = feature_stats(_random_feats(rng, 100, 4))
    out = fid_blocks(feats, mu, sigma, blocks=3)
    assert out["blocks"] == 3 and out["block_size"] == 10 and out["n_unused"] == 2
    assert out["ranges"] == [[0, 10], [10, 20], [20, 30]]
    want = [frechet_distance(*feature_stats(feats[a:b]), mu, sigma) for a, b in out["ranges"]]
    np.testing.assert_allclose(out["fids"], want, rtol=1e-12)
    assert out["mean"] == pytest.approx(np.mean(want))
    assert out["min"] == min(want) and out["max"] == max(want)
    one = fid_blocks(feats, mu, sigma, blocks=1)
    assert one["fids"] == [pytest.approx(frechet_distance(*feature_stats(feats), mu, sigma))]
    with pytest.raises(ValueError, match="too few"):
        fid_blocks(feats, mu, sigma, blocks=20)
    with pytest.raises(ValueError, match="positive integer"):
        fid_blocks(feats, mu, sigma, blocks=0)


# ----------------------------------------------------------------------------- shards


def _shard(path, seeds, h=4, w=4, c=1, meta=None):
    """A shard; ``meta`` (a dict) is stored as python -m artrl.sample stores its metadata."""
    seeds = np.asarray(seeds, dtype=np.int64)
    images = np.zeros((len(seeds), h, w, c), dtype=np.uint8)
    images[...] = (seeds % 256).astype(np.uint8)[:, None, None, None]
    extra = {} if meta is None else {"meta": np.array(json.dumps(meta))}
    np.savez(path, images=images, seeds=seeds, **extra)
    return path


def test_load_shards_sorted_by_seed(tmp_path):
    a = _shard(tmp_path / "a.npz", [5, 3, 9])
    b = _shard(tmp_path / "b.npz", [0, 7])
    c = _shard(tmp_path / "c.npz", [])
    images, seeds = load_shards([a, b, c])
    assert seeds.tolist() == [0, 3, 5, 7, 9] and seeds.dtype == np.int64
    assert images.dtype == np.uint8 and images.shape == (5, 4, 4, 1)
    assert images[:, 0, 0, 0].tolist() == [0, 3, 5, 7, 9]  # images follow their seeds


def test_load_shards_duplicate_seeds_name_files(tmp_path):
    a = _shard(tmp_path / "a.npz", [1, 2, 3])
    b = _shard(tmp_path / "b.npz", [3, 4])
    with pytest.raises(ValueError, match=r"seed 3 in .*a\.npz and .*b\.npz"):
        load_shards([a, b])
    d = _shard(tmp_path / "d.npz", [6, 6])
    with pytest.raises(ValueError, match=r"seed 6 twice in .*d\.npz"):
        load_shards([d])


def test_load_shards_errors_name_the_file(tmp_path):
    with pytest.raises(ValueError, match="no shard"):
        load_shards([])
    with pytest.raises(FileNotFoundError, match="missing.npz"):
        load_shards([tmp_path / "missing.npz"])
    np.savez(tmp_path / "nokey.npz", images=np.zeros((1, 2, 2, 1), np.uint8))
    with pytest.raises(ValueError, match=r"nokey\.npz.*'seeds'"):
        load_shards([tmp_path / "nokey.npz"])
    np.savez(tmp_path / "f.npz", images=np.zeros((1, 2, 2, 1), np.float32), seeds=np.zeros(1))
    with pytest.raises(ValueError, match=r"f\.npz.*uint8"):
        load_shards([tmp_path / "f.npz"])
    np.savez(tmp_path / "n.npz", images=np.zeros((2, 2, 2, 1), np.uint8), seeds=np.arange(3))
    with pytest.raises(ValueError, match=r"n\.npz: 2 images but 3 seeds"):
        load_shards([tmp_path / "n.npz"])
    a = _shard(tmp_path / "a.npz", [0], h=4)
    b = _shard(tmp_path / "b.npz", [1], h=8, w=8, c=3)
    with pytest.raises(ValueError, match=r"b\.npz.*a\.npz"):
        load_shards([a, b])
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match=r"bad\.npz"):
        load_shards([tmp_path / "bad.npz"])
    np.save(tmp_path / "arr.npy", np.zeros(3))
    with pytest.raises(ValueError, match=r"arr\.npy: a \.npy array"):
        load_shards([tmp_path / "arr.npy"])


# ----------------------------------------------------------------------------- ref stats


def test_ref_stats_round_trip(tmp_path):
    rng = np.random.default_rng(5)
    mu, sigma = feature_stats(_random_feats(rng, 50, 6))
    p = save_ref_stats(tmp_path / "sub" / "ref.npz", mu, sigma, features="digits", n=50)
    assert p.is_file() and not list(p.parent.glob(".*tmp"))
    ref = load_ref_stats(p)
    np.testing.assert_array_equal(ref.mu, mu)
    np.testing.assert_array_equal(ref.sigma, sigma)
    assert ref.meta == {"features": "digits", "n": 50}
    with np.load(p) as z:  # EDM's layout: plain mu / sigma arrays
        assert {"mu", "sigma"} <= set(z.files)


def test_load_edm_style_ref_and_errors(tmp_path):
    np.savez(tmp_path / "edm.npz", mu=np.zeros(3, np.float32), sigma=np.eye(3, dtype=np.float32))
    ref = load_ref_stats(tmp_path / "edm.npz")
    assert ref.meta == {} and ref.mu.dtype == np.float64
    with pytest.raises(FileNotFoundError, match="nothere.npz"):
        load_ref_stats(tmp_path / "nothere.npz")
    np.savez(tmp_path / "x.npz", mu=np.zeros(3))
    with pytest.raises(ValueError, match=r"x\.npz.*'sigma'"):
        load_ref_stats(tmp_path / "x.npz")
    with pytest.raises(ValueError, match="mu must be"):
        save_ref_stats(tmp_path / "y.npz", np.zeros(3), np.eye(2))


# ----------------------------------------------------------------------------- extractors


def test_inception_missing_file_error(tmp_path):
    missing = tmp_path / "inception-2015-12-05.pt"
    with pytest.raises(FileNotFoundError, match=r"fid\.inception_path") as e:
        InceptionFeatureExtractor(missing)
    assert str(missing) in str(e.value)
    with pytest.raises(FileNotFoundError, match=r"no path given.*fid\.inception_path"):
        build_feature_extractor("inception", FeatureArgs(inception_path=None))
    with pytest.raises(ValueError, match="unknown features"):
        build_feature_extractor("nope")


class _FakeInception(torch.nn.Module):
    """Stands in for inception-2015-12-05.pt: reports what it was given."""

    def forward(self, x: torch.Tensor, return_features: bool = False) -> torch.Tensor:
        assert return_features
        n = x.shape[0]
        h = torch.full((n,), float(x.shape[2]))
        c = torch.full((n,), float(x.shape[1]))
        return torch.stack([x.mean(dim=(1, 2, 3)), x[:, 0].amax(dim=(1, 2)), c, h], 1)


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning")
def test_inception_preprocessing_like_legacy_tensorflow(tmp_path):
    """Grey → 3 channels, float pixels in [0, 255], native size (resized inside the net)."""
    path = _fake_inception(tmp_path / "fake_inception.pt")
    digest = _sha256(path)
    fa = FeatureArgs(inception_path=str(path), inception_sha256=[digest])
    ext = build_feature_extractor("inception", fa)
    assert ext.describe()["mode"] == "legacy_tensorflow"
    assert ext.describe()["inception_sha256"] == digest
    imgs = np.random.default_rng(0).integers(0, 256, (5, 6, 6, 1), dtype=np.uint8)
    feats = InceptionFeatureExtractor(path, batch_size=2, sha256_allowed={digest})(imgs)
    assert feats.dtype == np.float64 and feats.shape == (5, 4)
    np.testing.assert_allclose(feats[:, 0], imgs.reshape(5, -1).mean(1), rtol=1e-6)
    np.testing.assert_array_equal(feats[:, 1], imgs.reshape(5, -1).max(1))
    assert (feats[:, 2] == 3).all() and (feats[:, 3] == 6).all()
    rgb = torch.from_numpy(np.repeat(imgs, 3, -1)).permute(0, 3, 1, 2)
    np.testing.assert_array_equal(ext(rgb).numpy(), feats)
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(ValueError, match="junk.pt: not a loadable TorchScript"):
        InceptionFeatureExtractor(tmp_path / "junk.pt", sha256_allowed={_sha256(b"junk")})


def _sha256(x) -> str:
    """sha256 of a file (a path) or of bytes."""
    return hashlib.sha256(x if isinstance(x, bytes) else x.read_bytes()).hexdigest()


def _fake_inception(path, note=""):
    """A TorchScript of :class:`_FakeInception`; another ``note``, another sha256."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():  # torch >= 2.9 marks TorchScript as deprecated
        warnings.simplefilter("ignore", FutureWarning)
        torch.jit.script(_FakeInception()).save(str(path), _extra_files={"note": note})
    return path


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning")
def test_inception_loads_only_a_pinned_or_allowed_torchscript(tmp_path, monkeypatch, capsys):
    """Loading a TorchScript runs its code: an unpinned file is refused (naming its sha256 and
    the fix) before anything is loaded; the digest pinned in the lock file, or one given with
    --inception-sha256 / fid.inception_sha256, lets it load."""
    monkeypatch.chdir(tmp_path)  # the default lock: resources/checksums.json
    path = _fake_inception(Path("resources/fid/inception-2015-12-05.pt"))
    digest, lock = _sha256(path), Path("resources/checksums.json")
    loads = []
    real_load = torch.jit.load
    monkeypatch.setattr(torch.jit, "load", lambda *a, **k: loads.append(1) or real_load(*a, **k))
    # nothing pinned (no lock file, then a lock without this path): refused, nothing loaded
    for text in (None, '{"fid/other.pt": "' + "0" * 64 + '"}'):
        if text is not None:
            lock.write_text(text)
        with pytest.raises(ValueError) as e:
            InceptionFeatureExtractor(path)
        msg = str(e.value)
        assert msg.startswith(f"{path}: refusing") and digest in msg and str(lock) in msg
        assert "download rule" in msg and "fid.inception_sha256" in msg
        assert f"--inception-sha256 {digest}" in msg
    assert loads == []
    # through the CLI: "error: ..." and exit status 2, no report
    shard = _shard(tmp_path / "s.npz", range(6), h=5, w=5)
    save_ref_stats(tmp_path / "ref.npz", np.zeros(4), np.eye(4), features="inception")
    out = tmp_path / "fid.json"
    argv = ["--shards", str(shard), "--ref", str(tmp_path / "ref.npz"), "--out", str(out),
            "--features", "inception", "--inception-path", str(path)]  # fmt: skip
    assert F.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {path}: refusing") and digest in err and not out.exists()
    assert loads == []
    # pinned by the download rule's lock file: loads (the API and the CLI)
    lock.write_text(json.dumps({"fid/inception-2015-12-05.pt": digest}))
    assert InceptionFeatureExtractor(path).sha256 == digest and loads == [1]
    assert F.main(argv) == 0 and json.loads(out.read_text())["feat_dim"] == 4
    # the file changed since it was pinned: refused, naming both digests
    _fake_inception(path, note="changed")  # another digest, the same network
    with pytest.raises(ValueError, match=f"sha256 {_sha256(path)} is not the one pinned.*{digest}"):
        InceptionFeatureExtractor(path)
    # explicit digests (repeatable) replace the lock's pin; a wrong one is refused
    new = _sha256(path)
    assert F.main([*argv, "--inception-sha256", "f" * 64, "--inception-sha256", new]) == 0
    assert json.loads(out.read_text())["feature_info"]["inception_sha256"] == new
    assert F.main([*argv, "--inception-sha256", digest]) == 2
    assert "not the allowed fid.inception_sha256" in capsys.readouterr().err
    # another lock file (--lock) pinning the new file
    alt = tmp_path / "alt" / "checksums.json"
    alt.parent.mkdir()
    alt.write_text(json.dumps({"../resources/fid/inception-2015-12-05.pt": new}))
    assert F.main([*argv, "--lock", str(alt)]) == 0


def test_cli_inception_missing_and_bad_inputs(tmp_path, capsys):
    shard = _shard(tmp_path / "s.npz", [0, 1, 2])
    save_ref_stats(tmp_path / "ref.npz", np.zeros(2), np.eye(2))
    out = tmp_path / "fid.json"
    argv = ["--shards", str(shard), "--ref", str(tmp_path / "ref.npz"), "--out", str(out)]
    missing = tmp_path / "inc.pt"
    assert F.main([*argv, "--features", "inception", "--inception-path", str(missing)]) == 2
    err = capsys.readouterr().err
    assert str(missing) in err and "fid.inception_path" in err
    assert F.main([*argv, "--features", "digits"]) == 2
    assert "--classifier" in capsys.readouterr().err
    assert F.main([*argv[:2], "--ref", str(tmp_path / "none.npz"), "--out", str(out)]) == 2
    assert "none.npz" in capsys.readouterr().err
    assert not out.exists()


def test_cli_help(capsys):
    with pytest.raises(SystemExit) as e:
        F.main(["--help"])
    assert e.value.code == 0
    text = capsys.readouterr().out
    for flag in (
        "--shards",
        "--ref",
        "--features",
        "--classifier",
        "--inception-path",
        "--inception-sha256",
        "--lock",
        "--blocks",
        "--device",
        "--out",
    ):
        assert flag in text


class _Stub:
    """A 2-d feature extractor for CLI tests."""

    feat_dim = 2

    def describe(self):
        return {"features": "stub"}

    def __call__(self, images):
        x = images.reshape(len(images), -1).astype(np.float64)
        return np.c_[x.mean(1), x.std(1) + np.arange(len(x)) % 3]


def test_report_json_serialisable(tmp_path, monkeypatch):
    """compute_fid_report with a stub extractor registered through FEATURE_BUILDERS."""

    monkeypatch.setitem(F.FEATURE_BUILDERS, "stub", lambda args: _Stub())
    a = _shard(tmp_path / "a.npz", range(0, 10))
    b = _shard(tmp_path / "b.npz", range(10, 21))
    rng = np.random.default_rng(0)
    save_ref_stats(tmp_path / "ref.npz", *feature_stats(rng.normal(size=(30, 2))))
    out = tmp_path / "r" / "fid.json"
    argv = ["--shards", str(a), str(b), "--ref", str(tmp_path / "ref.npz")]
    argv += ["--features", "stub", "--blocks", "2", "--out", str(out)]
    rc = F.main(argv)
    assert rc == 0
    rep = json.loads(out.read_text())
    assert rep["n_images"] == 21 and rep["blocks"] == 2 and rep["fid_blocks"]["block_size"] == 10
    assert rep["shards"] == [str(a), str(b)] and rep["features"] == "stub"
    assert np.isfinite(rep["fid"])
    meta = {"dataset": "digits", "solver": "heun", "K": 5, "nfe": 9, "name": "edm"}
    # a cell named by --meta reads only shards whose own metadata says they are its shards
    assert F.main([*argv, "--meta", json.dumps(meta)]) == 2
    shard_meta = {"dataset": "digits", "solver": "heun", "K": 5, "nfe": 9}
    shard_meta["schedule_sha256"] = "a" * 64
    a = _shard(tmp_path / "a.npz", range(0, 10), meta={**shard_meta, "seeds": [0, 9]})
    b = _shard(tmp_path / "b.npz", range(10, 21), meta={**shard_meta, "seeds": [10, 20]})
    rc = F.main([*argv, "--meta", json.dumps(meta)])
    assert rc == 0
    rep = json.loads(out.read_text())
    assert {k: rep[k] for k in meta} == meta and rep["n_images"] == 21
    assert rep["schedule_sha256"] == "a" * 64  # the schedule file the images came from


def test_cli_meta_errors(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(F.FEATURE_BUILDERS, "stub", lambda args: _Stub())
    a = _shard(tmp_path / "a.npz", range(10))
    save_ref_stats(tmp_path / "ref.npz", np.zeros(2), np.eye(2))
    out = tmp_path / "fid.json"
    argv = ["--shards", str(a), "--ref", str(tmp_path / "ref.npz"), "--features", "stub"]
    for meta, msg in (
        ("{bad", "not valid JSON"),
        ("[1]", "JSON object"),
        ('{"fid": 1}', "overwrite"),
    ):
        assert F.main([*argv, "--meta", meta, "--out", str(out)]) == 2
        assert msg in capsys.readouterr().err
    assert not out.exists()


def test_cli_records_the_numerics(tmp_path, monkeypatch):
    """Issue 16: the report records the torch threads / CPU kernels of the feature extraction;
    the command restores the process's thread count afterwards."""
    import torch

    from artrl.device import numerics_record

    monkeypatch.setitem(F.FEATURE_BUILDERS, "stub", lambda args: _Stub())
    a = _shard(tmp_path / "a.npz", range(0, 6))
    save_ref_stats(
        tmp_path / "ref.npz", *feature_stats(np.random.default_rng(0).normal(size=(9, 2)))
    )
    out = tmp_path / "fid.json"
    argv = ["--shards", str(a), "--ref", str(tmp_path / "ref.npz"), "--features", "stub"]
    n = torch.get_num_threads()
    want = 1 if n != 1 else 2
    assert F.main([*argv, "--threads", str(want), "--out", str(out)]) == 0
    rec = json.loads(out.read_text())["numerics"]
    assert rec["torch_threads"] == want and torch.get_num_threads() == n
    assert {k: v for k, v in rec.items() if k != "torch_threads"} == {
        k: v for k, v in numerics_record().items() if k != "torch_threads"
    }
