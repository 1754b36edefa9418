"""artrl.data.digits: shapes, ranges, the stratified split, resolutions and uint8 conversion."""

import numpy as np
import pytest
import torch

from artrl.data import digits as dg
from artrl.data import from_uint8, load_digits_images, to_uint8


@pytest.mark.parametrize("res", [8, 16, 32])
def test_shapes_dtype_and_range(res):
    x, y = load_digits_images(res)
    assert x.shape == (1797, 1, res, res) and x.dtype == torch.float32
    assert y.shape == (1797,) and y.dtype == torch.int64
    assert float(x.min()) == -1.0 and float(x.max()) == 1.0
    assert set(y.tolist()) == set(range(10))


def test_native_pixels_map_linearly():
    from sklearn.datasets import load_digits

    raw = load_digits().images
    x, _ = load_digits_images(8)
    np.testing.assert_allclose(x[:, 0].numpy(), raw / 8.0 - 1.0, rtol=0, atol=1e-6)


def test_split_is_deterministic_stratified_and_disjoint():
    xa, ya = load_digits_images(8, "all")
    xtr, ytr = load_digits_images(8, "train")
    xte, yte = load_digits_images(8, "test")
    assert len(xtr) + len(xte) == len(xa)
    assert abs(len(xte) / len(xa) - 0.2) < 0.01
    # every class keeps its share in both parts
    frac = np.bincount(yte.numpy(), minlength=10) / np.bincount(ya.numpy(), minlength=10)
    assert np.all(np.abs(frac - 0.2) < 0.01)
    tr, te = dg.split_indices(ya.numpy())
    assert len(np.intersect1d(tr, te)) == 0
    torch.testing.assert_close(xtr, xa[tr])
    torch.testing.assert_close(yte, ya[te])
    # same seed → same split; another seed → another split
    x2, _ = load_digits_images(8, "test")
    assert torch.equal(x2, xte)
    _, te1 = dg.split_indices(ya.numpy(), seed=1)
    assert not np.array_equal(te, te1)


def test_same_split_at_every_resolution():
    _, y8 = load_digits_images(8, "test", seed=3)
    x16, y16 = load_digits_images(16, "test", seed=3)
    x32, y32 = load_digits_images(32, "test", seed=3)
    x8, _ = load_digits_images(8, "test", seed=3)
    assert torch.equal(y8, y16) and torch.equal(y8, y32)
    # 16/32 are bilinear interpolations (align_corners=False) of the [−1, 1] 8×8 images
    for x, r in ((x16, 16), (x32, 32)):
        ref = torch.nn.functional.interpolate(x8, size=(r, r), mode="bilinear", align_corners=False)
        torch.testing.assert_close(x, ref)
        back = torch.nn.functional.adaptive_avg_pool2d(x, 8)
        assert np.corrcoef(back.flatten().numpy(), x8.flatten().numpy())[0, 1] > 0.95


def test_bad_arguments():
    with pytest.raises(ValueError, match="resolution"):
        load_digits_images(12)
    with pytest.raises(ValueError, match="split"):
        load_digits_images(8, "valid")
    with pytest.raises(ValueError, match="test_fraction"):
        load_digits_images(8, "train", test_fraction=1.0)


def test_uint8_round_trip():
    p = torch.arange(256, dtype=torch.uint8)
    assert torch.equal(to_uint8(from_uint8(p)), p)
    assert torch.equal(to_uint8(from_uint8(p, torch.float64)), p)
    x = torch.tensor([-2.0, -1.0, 0.0, 1.0, 2.0])
    assert to_uint8(x).tolist() == [0, 0, 128, 255, 255]
    x, _ = load_digits_images(8)
    assert float((from_uint8(to_uint8(x)) - x).abs().max()) <= 1 / 127.5
