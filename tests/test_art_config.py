"""ARTConfig's ranges (issue 14): every numeric option is checked where the config is built,
the schema's `art` block says the same, and the commands refuse a bad setting before they
write anything."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest
import yaml

from artrl.art.config import BOUNDS, LOG_CLOCK_DEFAULTS, ARTConfig, _interval

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "workflow/schemas/config.schema.yaml"
SET_BY_THE_WORKFLOW = {"K", "T", "seed"}  # not keys of an art block (the config check)


def _outside(key: str) -> list:
    """Values just outside the range of ``key`` (of the option's type)."""
    lo, lo_in, hi, hi_in = _interval(BOUNDS[key])
    integer = type(getattr(ARTConfig(), key)) is int
    out = [int(lo) - 1 if integer else lo - 0.5] if lo_in else [int(lo) if integer else lo]
    if not math.isinf(hi):
        out.append(hi + 1 if hi_in else hi)
    return out


def _inside(key: str):
    lo, lo_in, hi, _ = _interval(BOUNDS[key])
    if type(getattr(ARTConfig(), key)) is int:
        return int(lo) if lo_in else int(lo) + 1
    return lo if lo_in else (lo + min(hi, lo + 1)) / 2


@pytest.mark.parametrize("key", sorted(BOUNDS))
def test_check_refuses_every_value_out_of_range_naming_the_option(key):
    for bad in _outside(key):
        with pytest.raises(ValueError, match=rf"^{key} must be .*, got {bad!r}$"):
            ARTConfig(clock="log", **{key: bad})
    assert getattr(ARTConfig(clock="log", **{key: _inside(key)}), key) == _inside(key)


def test_check_refuses_the_issue_examples_and_non_finite_numbers():
    for art, key in [
        ({"iterations": -5}, "iterations"),
        ({"iterations": 0}, "iterations"),
        ({"batch": -1}, "batch"),
        ({"lr_actor": 0}, "lr_actor"),
        ({"hidden": 0}, "hidden"),
        ({"td_lambda": 1.5}, "td_lambda"),
        ({"gamma0": float("nan")}, "gamma0"),
        ({"lam": float("inf")}, "lam"),
        ({"sigma_min": float("nan")}, "sigma_min"),
    ]:
        with pytest.raises(ValueError, match=rf"^{key} must be"):
            ARTConfig.from_dict(art)


def test_batch_zero_is_the_log_clocks_automatic_batch_only():
    assert ARTConfig.from_dict({}).batch == LOG_CLOCK_DEFAULTS["batch"] == 0
    with pytest.raises(ValueError, match="^batch must be >= 1 with clock: sigma"):
        ARTConfig.from_dict({"clock": "sigma", "batch": 0})
    assert ARTConfig.from_dict({"clock": "sigma", "batch": 1}).batch == 1


def test_every_default_is_in_range():
    ARTConfig()
    ARTConfig.from_dict({})
    ARTConfig.from_dict({"clock": "sigma"})


def _schema_interval(prop: dict) -> str | None:
    """A schema number's range as a BOUNDS interval ("[1, inf)"), or None if it has none."""
    if "minimum" in prop:
        lo = f"[{prop['minimum']}"
    elif "exclusiveMinimum" in prop:
        lo = f"({prop['exclusiveMinimum']}"
    else:
        assert "maximum" not in prop and "exclusiveMaximum" not in prop
        return None
    if "maximum" in prop:
        hi = f"{prop['maximum']}]"
    elif "exclusiveMaximum" in prop:
        hi = f"{prop['exclusiveMaximum']})"
    else:
        hi = "inf)"
    return f"{lo}, {hi}"


def test_the_schema_art_block_mirrors_the_options_choices_and_bounds():
    schema = yaml.safe_load(SCHEMA.read_text())["$defs"]["art"]
    props = schema["properties"]
    defaults = ARTConfig()
    assert set(props) == {f.name for f in fields(ARTConfig)} - SET_BY_THE_WORKFLOW
    for key, prop in props.items():
        v = getattr(defaults, key)
        if key in ARTConfig.CHOICES:
            assert prop == {"type": "string", "enum": list(ARTConfig.CHOICES[key])}, key
            continue
        expect = {bool: "boolean", int: "integer", float: "number", str: "string"}[type(v)]
        assert prop["type"] == expect, key
        if expect == "boolean":
            continue
        got = _schema_interval(prop)
        want = BOUNDS.get(key)
        assert (got and _interval(got)) == (want and _interval(want)), (key, got, want)
    # the paper's clock: no automatic batch
    assert schema["if"] == {"properties": {"clock": {"const": "sigma"}}, "required": ["clock"]}
    assert schema["then"] == {"properties": {"batch": {"minimum": 1}}}


def test_make_trainer_checks_K_sigma_max_and_seed():
    from artrl.art.train import make_trainer

    dcfg = {"model": {"type": "gaussian"}, "sigma_max": 3.0, "art": {"iterations": 1}}
    for kw, key in [({"K": 0, "seed": 0}, "K"), ({"K": 4, "seed": -1}, "seed")]:
        with pytest.raises(ValueError, match=rf"^{key} must be >= "):
            make_trainer(dcfg, **kw)
    with pytest.raises(ValueError, match=r"^T must be > 0"):
        make_trainer({**dcfg, "sigma_max": -3.0}, K=4, seed=0)


GAUSS = {"model": {"type": "gaussian", "std": 1.0, "dim": 1}, "sigma_max": 3.0}


def test_train_cli_refuses_negative_iterations_before_writing_anything(tmp_path):
    """`art.iterations: -5` used to leave an empty rollouts.npz and an IndexError."""
    out = tmp_path / "art" / "K4"
    dcfg = json.dumps({**GAUSS, "art": {"iterations": -5}})
    r = subprocess.run(
        [sys.executable, "-m", "artrl.art.train", "--dataset-config", dcfg, "--K", "4",
         "--out-dir", str(out), "--no-progress"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip() == "error: iterations must be >= 1, got -5", r.stderr
    assert "Traceback" not in r.stderr + r.stdout
    assert not out.exists() and not (tmp_path / "art").exists()


@pytest.mark.parametrize(
    "art,args,key",
    [
        ({}, ["--iterations", "-5"], "iterations"),
        ({"lr_critic": 0}, [], "lr_critic"),
        ({"clock": "sigma", "batch": 0}, [], "batch"),
        ({}, ["--K", "0"], "K"),
    ],
)
def test_train_main_exits_2_with_one_line_naming_the_option(tmp_path, capsys, art, args, key):
    from artrl.art.train import main

    out = tmp_path / "out"
    argv = ["--dataset-config", json.dumps({**GAUSS, "art": art}), "--out-dir", str(out)]
    argv += ["--no-progress", *(args if "--K" in args else ["--K", "4", *args])]
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {key} must be") and err.count("\n") == 1, err
    assert not out.exists()


def test_analytic_cli_refuses_bad_settings_before_writing_the_profile(tmp_path, capsys):
    from artrl.art.analytic import main

    prof, sched = tmp_path / "q.npz", tmp_path / "s.json"
    for analytic, K, what in [
        ({"rollouts": 0}, "3", "analytic.rollouts"),
        ({"fine_steps": 1}, "3", "analytic.fine_steps"),
        ({"fine_grid": "karras"}, "3", "analytic.fine_grid"),
        ({"convention": "code", "sigma_min": 0.002}, "1", "--K must be >= 2"),
        ({}, "0", "--K must be >= 1"),
    ]:
        dcfg = json.dumps({**GAUSS, "analytic": analytic})
        argv = ["--dataset-config", dcfg, "--dataset", "g", "--save-profile", str(prof),
                "--K", K, "--out", str(sched)]  # fmt: skip
        with pytest.raises(SystemExit) as e:
            main(argv)
        assert e.value.code == 2
        assert what in capsys.readouterr().err
        assert not prof.exists() and not sched.exists()
