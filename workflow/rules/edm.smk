# Retrieved files (NVIDIA EDM pickles, EDM's FID reference statistics, clean-fid's TF-Inception
# TorchScript) for the EDM data sets. Local rules: on a cluster they run on the login node,
# where the internet is. Each file is pinned by sha256 in resources/checksums.json at its first
# download; a later mismatch is refused. Offline, the rule fails at once naming the URL and the
# config key that can point at a local copy instead.


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
        url=W.download_url,
        key=W.download_key,
        lock=LOCK_FILE,
    shell:
        "python -m artrl.download --url {params.url:q} --out {output:q} --lock {params.lock:q}"
        " --key {params.key:q} > {log:q} 2>&1"


rule download_all:
    input:
        list(W.downloads()),
    localrule: True
