# Retrieved files (NVIDIA EDM pickles, EDM's FID reference statistics, clean-fid's TF-Inception
# TorchScript) for the EDM data sets. Local rules: on a cluster they run on the login node,
# where the internet is. Each file is pinned by sha256 in resources/checksums.json at its first
# download; a later mismatch is refused. Offline, the rule fails at once naming the URL and the
# config key that can point at a local copy instead.

LOCK_FILE = "resources/checksums.json"


def downloads():
    """{path under resources/: (url, config key)} of every file the config says to download."""
    out = {}
    for d, c in config["datasets"].items():
        m = c["model"]
        if m.get("url"):
            out[m["path"]] = (m["url"], f"datasets.{d}.model.path")
        fid = c.get("fid", {})
        for path_key, url_key in (
            ("inception_path", "inception_url"),
            ("ref", "ref_url"),
        ):
            if fid.get(url_key):
                out[fid[path_key]] = (fid[url_key], f"datasets.{d}.fid.{path_key}")
    return {p: v for p, v in out.items() if p.startswith("resources/")}


def download_url(wildcards):
    return downloads()[f"resources/{wildcards.path}"][0]


def download_key(wildcards):
    return downloads()[f"resources/{wildcards.path}"][1]


DOWNLOAD_RE = alternatives(p[len("resources/") :] for p in downloads())


rule download:
    output:
        ensure("resources/{path}", non_empty=True),
    log:
        "results/logs/download/{path}.log",
    wildcard_constraints:
        path=DOWNLOAD_RE,
    localrule: True
    conda:
        "../../envs/artrl.yaml"
    params:
        url=download_url,
        key=download_key,
        lock=LOCK_FILE,
    shell:
        "python -m artrl.download --url {params.url:q} --out {output} --lock {params.lock}"
        " --key {params.key} > {log} 2>&1"
