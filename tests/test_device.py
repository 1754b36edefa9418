"""--device resolution (artrl.device) and its use by the command lines."""

import pytest
import torch

from artrl.device import DeviceError, device_arg, resolve_device


def test_cpu_and_auto_without_cuda(monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(" CPU ") == torch.device("cpu")
    assert resolve_device("auto") == torch.device("cpu")
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "CUDA is not available" in err
    assert resolve_device("auto", quiet=True) == torch.device("cpu")
    assert capsys.readouterr().err == ""


def test_cuda_without_cuda_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    for name in ("cuda", "cuda:0"):
        with pytest.raises(DeviceError, match="CUDA is not available.*--device cpu"):
            resolve_device(name)


def test_cuda_with_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device("auto") == torch.device("cuda")
    assert resolve_device("cuda") == torch.device("cuda")
    assert resolve_device("cuda:1") == torch.device("cuda", 1)
    with pytest.raises(DeviceError, match="only 2 CUDA device"):
        resolve_device("cuda:2")


@pytest.mark.parametrize("name", ["gpu", "cuda:x", "mps0", "", "cuda:"])
def test_unknown_names(name):
    with pytest.raises(DeviceError, match="unknown device.*cpu \\| cuda \\| cuda:N \\| auto"):
        resolve_device(name)


def test_cli_rejects_unknown_device(capsys):
    from artrl.art.train import main

    with pytest.raises(SystemExit) as e:
        main(["--dataset-config", "{}", "--K", "2", "--out-dir", "x", "--device", "gpu"])
    assert e.value.code == 2
    assert "argument --device: unknown device 'gpu'" in capsys.readouterr().err


def test_device_arg_is_an_argparse_type():
    import argparse

    assert device_arg("cpu") == torch.device("cpu")
    with pytest.raises(argparse.ArgumentTypeError):
        device_arg("tpu")
