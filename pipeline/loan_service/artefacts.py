"""Artefacts loaded only as exported: their sha256 must match ``manifest.json`` written with them."""

import hashlib
import json
from pathlib import Path


def sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def verified(directory, name):
    """The path of an artefact whose sha256 matches the manifest written with it, else a clear error."""
    directory = Path(directory)
    manifest = directory / "manifest.json"
    if not manifest.is_file():
        raise RuntimeError(f"{manifest} is missing: export the artefacts first (make run, or make serve)")
    expected = json.loads(manifest.read_text())["sha256"].get(name)
    actual = sha256(directory / name)
    if actual != expected:
        raise RuntimeError(
            f"refusing to load {directory / name}: its sha256 is {actual}, the manifest says "
            f"{expected}. The file changed after export; export the artefacts again."
        )
    return directory / name
