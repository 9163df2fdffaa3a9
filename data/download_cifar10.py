#!/usr/bin/env python
"""Download CIFAR-10 (python version) into this folder: data/cifar-10-batches-py/.

    python data/download_cifar10.py

Needs internet (about 163 MB). Nothing else in the suite downloads anything: without
this, the experiments use scikit-learn's bundled digits. With it, dataset='auto'
(the default of ``load_dataset`` and of ``python -m cs231n_norm``) picks CIFAR-10.

The archive's MD5 is checked before anything is extracted, and only the batch files
are extracted (no links, no paths outside this folder). The batches are pickles:
cs231n_norm.data reads them with a restricted unpickler that cannot run code.
"""
from __future__ import annotations

import hashlib
import sys
import tarfile
import urllib.request
from pathlib import Path

URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
MD5 = "c58f30108f718f92721af3b95e74349a"
HERE = Path(__file__).resolve().parent
ARCHIVE = HERE / "cifar-10-python.tar.gz"
FOLDER = "cifar-10-batches-py"
MEMBERS = [f"{FOLDER}/data_batch_{i}" for i in range(1, 6)] + [f"{FOLDER}/test_batch", f"{FOLDER}/batches.meta"]


def md5_of(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def download(url: str, target: Path) -> None:
    partial = target.with_suffix(".part")
    print(f"Downloading {url} ...", file=sys.stderr)
    with urllib.request.urlopen(url, timeout=60) as response, open(partial, "wb") as out:
        total = int(response.headers.get("Content-Length", 0))
        done = 0
        for chunk in iter(lambda: response.read(1 << 20), b""):
            out.write(chunk)
            done += len(chunk)
            if total:
                print(f"\r  {done / 2**20:.0f} / {total / 2**20:.0f} MiB", end="", file=sys.stderr)
    print(file=sys.stderr)
    partial.replace(target)


def extract(archive: Path, destination: Path) -> None:
    with tarfile.open(archive, "r:gz") as tar:
        for name in MEMBERS:
            member = tar.getmember(name)
            if not member.isfile():
                raise RuntimeError(f"{name} in the archive is not a regular file")
            source = tar.extractfile(member)
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(source.read())


def main() -> int:
    if all((HERE / name).is_file() for name in MEMBERS):
        print(f"CIFAR-10 is already in {HERE / FOLDER}", file=sys.stderr)
        return 0
    if not ARCHIVE.exists() or md5_of(ARCHIVE) != MD5:
        try:
            download(URL, ARCHIVE)
        except OSError as error:
            print(f"Download failed ({error}); the suite keeps working with the bundled digits.", file=sys.stderr)
            return 1
    checksum = md5_of(ARCHIVE)
    if checksum != MD5:
        print(f"{ARCHIVE.name} has MD5 {checksum}, expected {MD5}: deleted, not extracted.", file=sys.stderr)
        ARCHIVE.unlink()
        return 1
    extract(ARCHIVE, HERE)
    print(f"CIFAR-10 is ready in {HERE / FOLDER}; you may delete {ARCHIVE.name}.", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
