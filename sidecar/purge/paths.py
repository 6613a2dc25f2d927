"""The manifest files a plan reads: each path as given, and for a directory the manifests
the workers of an integration wrote into it (Spark tasks, Ray actors: a file each)."""

from __future__ import annotations

import os

from maytrain.client.manifests import manifest_files

from .lines import ManifestError


def manifest_paths(given: list[str]) -> list[str]:
    """The files to read, in order; ManifestError for a directory that holds none."""
    paths: list[str] = []
    for path in given:
        if not os.path.isdir(path):
            paths.append(path)
            continue
        found = [os.fspath(file) for file in manifest_files(path)]
        if not found:
            raise ManifestError(f"{path}: a directory with no manifest in it (manifest-*.jsonl "
                                "or manifest-*.parquet); nothing would be re-decided")
        paths += found
    return paths
