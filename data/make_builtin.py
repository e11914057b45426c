#!/usr/bin/env python3
"""Makes adjacent's built-in data set: a seeded, stratified subset of Fashion-MNIST (MIT).

1,000 training images per class (10,000) and 200 test images per class (2,000), in the original
order, written as gzipped IDX files under data/builtin/.

    python3 data/make_builtin.py ../shared/data/fashion-mnist data/builtin
"""
import gzip
import random
import struct
import sys
from pathlib import Path


def read_idx(images_path, labels_path):
    images = gzip.open(images_path).read()
    labels = gzip.open(labels_path).read()
    magic, n, rows, cols = struct.unpack(">IIII", images[:16])
    assert magic == 0x803 and struct.unpack(">II", labels[:8]) == (0x801, n)
    size = rows * cols
    return [images[16 + i * size:16 + (i + 1) * size] for i in range(n)], list(labels[8:]), rows, cols


def write_idx(images, labels, rows, cols, images_path, labels_path):
    with gzip.GzipFile(images_path, "wb", compresslevel=9, mtime=0) as f:
        f.write(struct.pack(">IIII", 0x803, len(images), rows, cols))
        f.write(b"".join(images))
    with gzip.GzipFile(labels_path, "wb", compresslevel=9, mtime=0) as f:
        f.write(struct.pack(">II", 0x801, len(labels)))
        f.write(bytes(labels))


def subset(labels, per_class, rng):
    chosen = []
    for c in sorted(set(labels)):
        members = [i for i, l in enumerate(labels) if l == c]
        chosen += rng.sample(members, per_class)
    return sorted(chosen)


def main(src, dst):
    src, dst = Path(src), Path(dst)
    dst.mkdir(parents=True, exist_ok=True)
    rng = random.Random(0)
    for prefix, per_class in [("train", 1000), ("t10k", 200)]:
        images, labels, rows, cols = read_idx(
            src / f"{prefix}-images-idx3-ubyte.gz", src / f"{prefix}-labels-idx1-ubyte.gz"
        )
        keep = subset(labels, per_class, rng)
        write_idx(
            [images[i] for i in keep], [labels[i] for i in keep], rows, cols,
            dst / f"{prefix}-images-idx3-ubyte.gz", dst / f"{prefix}-labels-idx1-ubyte.gz",
        )
        print(f"{prefix}: {len(keep)} images")


if __name__ == "__main__":
    main(*sys.argv[1:3])
