"""The config each schedule depends on, and its digest (provenance checked by every reader)."""

import json

from artrl.io import config_digest
from artrl.workflow.config import SCHEDULE_METHODS


class Provenance:
    def art_train_cfg(self, dataset, name=None, r=0):
        """The part of a dataset block ART-RL training depends on (so adding a schedule or changing
        a label does not retrain: params changes are a rerun trigger), with the `art` overrides of
        schedule ``name`` (a variant: Heun proxy, ablations) merged into the dataset's block, and
        replicate ``r``'s score model (:meth:`model_cfg`; the provenance digest takes r = 0).
        """
        d = self.dataset_cfg(dataset)
        out = {k: d[k] for k in ("sigma_max", "solver", "art") if k in d}
        out["model"] = self.model_cfg(dataset, r)
        # the grid's ends (convention, sigma_min) are ART-analytic's: the scale-free clock uses them
        ends = {k: v for k, v in d.get("analytic", {}).items() if k in ("convention", "sigma_min")}
        if ends:
            out["analytic"] = ends
        over = self.schedule_cfg(dataset, name).get("art", {}) if name is not None else {}
        if over:
            out["art"] = {**out.get("art", {}), **over}
        return out

    def analytic_cfg(self, dataset, r=0):
        """The part of a dataset block the q (and r) profile depends on; the profile carries the
        Heun error density r too when some analytic schedule of the dataset uses proxy heun.
        ``r``: the replicate whose score model the profile evaluates (:meth:`model_cfg`).
        """
        d = self.dataset_cfg(dataset)
        out = {k: d[k] for k in ("sigma_max", "solver", "analytic") if k in d}
        out["model"] = self.model_cfg(dataset, r)
        out["heun_profile"] = self.needs_heun_profile(dataset)
        return out

    def analytic_proxy(self, dataset, name):
        """The error proxy of an analytic schedule: its own, else the dataset's, else euler."""
        own = self.schedule_cfg(dataset, name).get("analytic", {}).get("proxy")
        return own or self.dataset_cfg(dataset).get("analytic", {}).get("proxy", "euler")

    def needs_heun_profile(self, dataset):
        return any(
            self.analytic_proxy(dataset, n) == "heun"
            for n in self.schedule_names(dataset, ("art_analytic",))
        )

    def analytic_schedule_cfg(self, dataset, name, r=0):
        """--dataset-config of one analytic schedule: the profile's config (of replicate ``r``)
        and the schedule's proxy."""
        out = self.analytic_cfg(dataset, r)
        out["analytic"] = {
            **out.get("analytic", {}),
            "proxy": self.analytic_proxy(dataset, name),
        }
        return out

    def schedule_provenance(self, dataset, name):
        """The config that determines one schedule (labels excluded: they are presentation only)."""
        d = self.dataset_cfg(dataset)
        entry = {k: v for k, v in self.schedule_cfg(dataset, name).items() if k != "label"}
        method = entry["method"]
        if method == "art_rl":
            return {"schedule": entry, **self.art_train_cfg(dataset, name)}
        if method == "art_analytic":
            return {"schedule": entry, **self.analytic_schedule_cfg(dataset, name)}
        if method in SCHEDULE_METHODS:
            return {
                "schedule": entry,
                "solver": self.method_solver(dataset, name),
                **self.method_cfg(dataset, name),
            }
        if method == "art_state":  # the source run's actor and grid (its digest covers them)
            source = self.schedule_provenance(dataset, entry["source"])
            return {"schedule": entry, "sigma_max": d["sigma_max"], "source": source}
        if method == "art_rl_transfer":
            src_dataset = entry.get("source_dataset", dataset)
            source = self.schedule_provenance(src_dataset, self.transfer_source(dataset, name))
            return {"schedule": entry, "sigma_max": d["sigma_max"], "source": source}
        return {"schedule": entry, "sigma_max": d["sigma_max"]}

    def method_cfg(self, dataset, name, r=0):
        """--dataset-config of python -m artrl.methods.<method>: model (replicate ``r``'s,
        :meth:`model_cfg`), sigma_max and the schedule's settings under the method's key."""
        d = self.dataset_cfg(dataset)
        s = self.schedule_cfg(dataset, name)
        out = {k: d[k] for k in ("sigma_max",) if k in d}
        out["model"] = self.model_cfg(dataset, r)
        out[s["method"]] = s.get("settings", {})
        return out

    def method_solver(self, dataset, name):
        """The solver a method's schedule is made for: its own, the dataset's, else Heun."""
        return self.schedule_cfg(dataset, name).get("solver") or self.dataset_cfg(dataset).get(
            "solver", "heun"
        )

    def schedule_digest(self, wildcards):
        return config_digest(self.schedule_provenance(wildcards.dataset, wildcards.name))

    def slot_expect(self, dataset, name, K):
        """What the schedule file at results/schedules/{dataset}/{name}/K{K}.json must say about
        itself (checked by every reader: artrl.schedules.check_slot)."""
        return json.dumps(
            {
                "dataset": dataset,
                "K": int(K),
                "sigma_max": float(self.dataset_cfg(dataset)["sigma_max"]),
                "config_digest": config_digest(self.schedule_provenance(dataset, name)),
            },
            sort_keys=True,
        )

    def schedule_expect(self, wildcards):
        """--expect of a rule reading the schedule of its own (dataset, name, K) slot."""
        return self.slot_expect(wildcards.dataset, wildcards.name, wildcards.K)

    def dataset_digest(self, wildcards):
        return config_digest(
            {"dataset": self.dataset_cfg(wildcards.dataset), "seed": self.config["seed"]}
        )

    def transfer_slot(self, wildcards):
        """(dataset, name, K) of the schedule a transfer resamples."""
        s = self.schedule_cfg(wildcards.dataset, wildcards.name)
        src = self.transfer_source(wildcards.dataset, wildcards.name)
        src_dataset = s.get("source_dataset", wildcards.dataset)
        from_K = s.get("from_K", wildcards.K)  # cross-data-set transfer: the same K by default
        return src_dataset, src, from_K

    def transfer_expect(self, wildcards):
        return self.slot_expect(*self.transfer_slot(wildcards))

    def state_digest(self, wildcards):
        """The config digest of a state-dependent comparison table: its block's settings and
        its problem (issue 17)."""
        block = {k: v for k, v in self.state_cfg().items() if k != "problems"}
        problem = self.state_cfg()["problems"][wildcards.problem]
        return config_digest(
            {"state_dependent": block, "problem": problem, "seed": self.config["seed"]}
        )

    def cross_digest(self, wildcards):
        return config_digest(
            {"cross_dataset": self.cross_dataset_cfg(), "seed": self.config["seed"]}
        )
