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


# ----------------------------------------------------------------------------------------------
# --threads and the numerics record (artrl.device.set_threads / numerics_record / threads_arg)


@pytest.fixture
def keep_threads():
    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


def test_set_threads_sets_torch_and_returns_the_record(keep_threads, monkeypatch):
    import json

    from artrl.device import numerics_record, set_threads

    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    monkeypatch.setenv("ATEN_CPU_CAPABILITY", "avx2")
    for n in (1, 2):
        rec = set_threads(n)
        assert torch.get_num_threads() == n
        assert rec == numerics_record()
        assert rec["torch_threads"] == n and rec["torch"] == torch.__version__
        assert rec["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
        assert rec["onednn_max_cpu_isa"] is None and rec["aten_cpu_capability"] == "avx2"
        assert json.loads(json.dumps(rec)) == rec  # JSON-serialisable


@pytest.mark.parametrize("bad", [0, -1, 1.5, "2", True, None])
def test_set_threads_refuses_non_positive_or_non_int(bad, keep_threads):
    from artrl.device import set_threads

    n = torch.get_num_threads()
    with pytest.raises(ValueError, match="torch threads must be an integer >= 1, got"):
        set_threads(bad)
    assert torch.get_num_threads() == n


def test_threads_arg_default_and_argparse_errors(capsys):
    import argparse

    from artrl.device import THREADS_HELP, threads_arg

    p = argparse.ArgumentParser(prog="x")
    threads_arg(p)
    assert p.parse_args([]).threads == 1
    assert p.parse_args(["--threads", "3"]).threads == 3
    assert "torch_threads" in THREADS_HELP and "core count" in THREADS_HELP
    for bad in ("0", "-2", "two"):
        with pytest.raises(SystemExit) as e:
            p.parse_args(["--threads", bad])
        assert e.value.code == 2
        assert "argument --threads: must be an integer >= 1" in capsys.readouterr().err


@pytest.mark.parametrize(
    "module",
    [
        "artrl.models.train_score",
        "artrl.art.train",
        "artrl.art.analytic",
        "artrl.methods.ld3",
        "artrl.methods.gits",
        "artrl.methods.dmn",
        "artrl.sample",
        "artrl.metrics.fid",
    ],
)
def test_every_torch_cli_refuses_threads_0(module, capsys):
    """--threads is parsed before anything else is read: 0 stops every command with status 2."""
    import importlib

    main = importlib.import_module(module).main
    with pytest.raises(SystemExit) as e:
        main(["--threads", "0"])
    assert e.value.code == 2
    assert "--threads: must be an integer >= 1" in capsys.readouterr().err


@pytest.mark.parametrize("cmd", ["train", "ref-stats"])
def test_digits_features_refuses_threads_0(cmd, capsys):
    from artrl.metrics.digits_features import main

    with pytest.raises(SystemExit) as e:
        main([cmd, "--threads", "0"])
    assert e.value.code == 2
    assert "--threads: must be an integer >= 1" in capsys.readouterr().err
