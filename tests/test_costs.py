"""The cost column: wall time from Snakemake benchmark files, denoiser evaluations from the
schedule files, averaged per table row (artrl.costs)."""

import math

import numpy as np
import pandas as pd
import pytest

from artrl.costs import (
    benchmark_seconds,
    cost_table,
    fmt_evals,
    fmt_seconds,
    load_row_costs,
    main,
    row_costs,
)
from artrl.schedules import Schedule

HEAD = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def bench(path, *seconds):
    path.write_text(HEAD + "".join(f"{s}\t0:00:01\t1\t1\t1\t1\t0\t0\t50\t1\n" for s in seconds))
    return str(path)


def sched(path, evals=None, K=3):
    extra = {} if evals is None else {"denoiser_evals": evals}
    Schedule(np.array([3.0, 2.0, 1.0, 0.0])[: K + 1], "gits", "d", K, 0, "x", extra).save(path)
    return str(path)


def test_benchmark_seconds_sums_repeats_and_names_bad_files(tmp_path):
    assert benchmark_seconds(bench(tmp_path / "a.tsv", 1.5)) == 1.5
    assert benchmark_seconds(bench(tmp_path / "b.tsv", 1.5, 2.25)) == 3.75
    (tmp_path / "c.tsv").write_text("no\theader\n1\t2\n")
    with pytest.raises(ValueError, match=r"c\.tsv.*column 's'"):
        benchmark_seconds(tmp_path / "c.tsv")
    with pytest.raises(ValueError, match=r"missing\.tsv"):
        benchmark_seconds(tmp_path / "missing.tsv")


def test_cost_table_sums_the_jobs_of_a_schedule(tmp_path):
    a = bench(tmp_path / "train.tsv", 100.0)  # a shared upstream job (an ART-RL run)
    b = bench(tmp_path / "own.tsv", 0.5)
    s = sched(tmp_path / "s.json", evals=1234)
    z = sched(tmp_path / "z.json")  # a closed form: no model call recorded
    df = cost_table([f"art:3:{s}:{a}+{b}", f"edm:3:{z}:{b}"])
    assert list(df["name"]) == ["art", "edm"]
    assert list(df["wall_s"]) == [100.5, 0.5]
    assert list(df["denoiser_evals"]) == [1234, 0]
    assert list(df["jobs"]) == [2, 1]
    with pytest.raises(ValueError, match="NAME:K:SCHEDULE"):
        cost_table(["art:three:x:y"])
    with pytest.raises(ValueError, match=r"nope\.json"):
        cost_table([f"art:3:{tmp_path / 'nope.json'}:{a}"])


def test_row_costs_average_over_k_and_mark_missing_rows():
    df = pd.DataFrame(
        {"name": ["a", "a", "b"], "K": [2, 5, 2], "wall_s": [1.0, 3.0, 7.0],
         "denoiser_evals": [10, 30, 0], "jobs": [1, 1, 1]}
    )  # fmt: skip
    out = row_costs(df, ["a", "b", "c"])
    assert out["a"] == {"cost_wall_s": 2.0, "cost_denoiser_evals": 20.0}
    assert out["b"] == {"cost_wall_s": 7.0, "cost_denoiser_evals": 0.0}
    assert math.isnan(out["c"]["cost_wall_s"])


def test_cli_writes_a_csv_the_tables_read(tmp_path):
    s = sched(tmp_path / "s.json", evals=7)
    b = bench(tmp_path / "b.tsv", 2.0)
    out = main([f"gits:3:{s}:{b}", "--out", str(tmp_path / "c.csv")])
    assert load_row_costs(out, ["gits"]) == {
        "gits": {"cost_wall_s": 2.0, "cost_denoiser_evals": 7.0}
    }
    assert load_row_costs(None, ["gits"]) is None
    (tmp_path / "bad.csv").write_text("name,K\ngits,3\n")
    with pytest.raises(ValueError, match=r"bad\.csv.*missing columns"):
        load_row_costs(tmp_path / "bad.csv", ["gits"])


def test_formats():
    assert [fmt_seconds(v) for v in (0.42, 12.4, 204, 9000, math.nan)] == [
        "0.4 s", "12 s", "3.4 min", "2.5 h", "—"
    ]  # fmt: skip
    assert [fmt_evals(v) for v in (0, 999, 5100, 2.3e6, math.nan)] == [
        "0", "999", "5.1k", "2.3M", "—"
    ]  # fmt: skip
