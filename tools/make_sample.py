"""Make the MNIST sample bundled with le4nn from the official MNIST files, deterministically.

    python tools/make_sample.py --source ../shared/data/mnist            # rewrite the package's sample
    python tools/make_sample.py --source ../shared/data/mnist --check    # compare only; exit 1 if different

The source files must be the official ones (their sha256 is checked).  From each class, 600 training
digits (official training set) and 100 test digits (official test set) are chosen: the indices of a class
are ordered by sha256("le4nn-mnist-sample:<seed>:<split>:<index>") and the first ones are kept, which
depends on nothing but the seed (no NumPy random stream whose algorithm could change).  The chosen images
keep their official order.  The files are gzipped with mtime 0, no file name and level 9, so every run
writes the same bytes (with the same zlib).  SHA256SUMS and README.md are written beside them.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import zlib
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from le4nn.datasets import idx_dataset, locate, mnist  # noqa: E402
from le4nn.datasets.idx import encode_idx, gzip_bytes  # noqa: E402

SEED = 0
TRAIN_PER_CLASS = 600
TEST_PER_CLASS = 100
DEFAULT_OUTPUT = ROOT / "src" / "le4nn" / "datasets" / "data" / "mnist-sample"

README = """\
# MNIST sample bundled with le4nn

{n_train} training digits ({train_per_class} of each class 0–9) and {n_test} test digits
({test_per_class} of each class) taken from the MNIST database, in MNIST's own idx format (gzipped), loaded by
`le4nn.datasets.sample.load_data()`.

## Licence
The MNIST database is by Yann LeCun, Corinna Cortes and Christopher J.C. Burges
(http://yann.lecun.com/exdb/mnist/), made available under the Creative Commons Attribution-Share Alike 3.0
licence (CC BY-SA 3.0, https://creativecommons.org/licenses/by-sa/3.0/).  This sample is a subset of it
and is distributed under the same licence.  (The rest of le4nn is under its own BSD-3-Clause licence.)

## How it was made
`python tools/make_sample.py --source DIR` (in the le4nn repository) from the four official files, checked
against their published sha256:

{source_hashes}

Selection: for each class, the indices of that class are ordered by
sha256("le4nn-mnist-sample:{seed}:<split>:<index>") (split = train or test, index = position in the official
file) and the first {train_per_class} (training) or {test_per_class} (test) are kept; the chosen images
keep their official order.  The files are gzipped with level 9, modification time 0 and no file name
(zlib {zlib_version}), so the script reproduces them byte for byte.  `SHA256SUMS` lists their sha256,
checked at every load.
"""


def choose(labels: np.ndarray, per_class: int, split: str, seed: int = SEED) -> np.ndarray:
    """Sorted indices: the ``per_class`` indices of each class whose keyed sha256 is smallest."""
    keys = [hashlib.sha256(f"le4nn-mnist-sample:{seed}:{split}:{index}".encode()).digest()
            for index in range(len(labels))]
    chosen = []
    for digit in range(10):
        members = np.flatnonzero(labels == digit)
        if len(members) < per_class:
            raise SystemExit(f"only {len(members)} {split} images of class {digit}, need {per_class}")
        chosen.extend(sorted(members.tolist(), key=keys.__getitem__)[:per_class])
    return np.array(sorted(chosen))


def build(source: Path) -> dict[str, bytes]:
    """The file name -> bytes of the sample folder (without README)."""
    found, missing = idx_dataset.files_in(source)
    if missing:
        raise SystemExit(f"{source}: missing {', '.join(missing)}")
    for path in found:
        expected = mnist.HASHES.get(path.name, "").partition(":")[2]
        if locate.file_sha256(path) != expected:
            raise SystemExit(f"{path}: not the official file (sha256 differs from the published value)")
    (x_train, y_train), (x_test, y_test) = idx_dataset.load_folder(source)
    train = choose(y_train, TRAIN_PER_CLASS, "train")
    test = choose(y_test, TEST_PER_CLASS, "test")
    arrays = (x_train[train], y_train[train], x_test[test], y_test[test])
    files = {f"{stem}.gz": gzip_bytes(encode_idx(array)) for stem, array in zip(idx_dataset.STEMS, arrays, strict=True)}
    files["SHA256SUMS"] = "".join(f"{hashlib.sha256(data).hexdigest()}  {name}\n"
                                  for name, data in files.items()).encode("ascii")
    source_hashes = "\n".join(f"    {locate.file_sha256(path)}  {path.name}" for path in found)
    files["README.md"] = README.format(
        n_train=len(train), n_test=len(test), train_per_class=TRAIN_PER_CLASS, test_per_class=TEST_PER_CLASS,
        seed=SEED, source_hashes=source_hashes, zlib_version=zlib.ZLIB_RUNTIME_VERSION,
    ).encode("utf-8")
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, required=True, help="folder with the four official MNIST files")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help=f"default: {DEFAULT_OUTPUT}")
    parser.add_argument("--check", action="store_true",
                        help="compare with --output instead of writing; exit 1 if different")
    args = parser.parse_args(argv)
    files = build(args.source)
    if args.check:
        different = [name for name, data in files.items()
                     if not (args.output / name).is_file() or (args.output / name).read_bytes() != data]
        for name in different:
            print(f"differs: {args.output / name}")
        if not different:
            print(f"{args.output}: up to date")
        return 1 if different else 0
    args.output.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (args.output / name).write_bytes(data)
    total = sum(len(data) for name, data in files.items() if name.endswith(".gz"))
    print(f"wrote {args.output} ({total / 1e6:.2f} MB of idx.gz)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
