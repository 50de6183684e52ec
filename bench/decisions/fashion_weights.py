"""Decided: nothing for shops: it makes trained weights for measuring int8's agreement where ImageNet's cannot be had (docs/embed.md).

Trained weights where ImageNet's cannot be had: the embedding's own network (ResNet50,
include_top=False, global max pooling) trained from scratch, for a few epochs, to tell the fashion
dataset's article types apart, the demo catalogue's pictures held out. Saved as a weights file for
`--weights PATH` (bench/embed_throughput.py, python -m embed build), to measure int8's top-5
agreement on vectors that a training has spread apart, which random weights' are not (docs/embed.md,
"int8"). They are not ImageNet's and no shop should use them: a figure measured with them says so.

Trained at --size (112 by default: a quarter of the arithmetic of 224) on pictures the job's own
decoder reads (embed.images.load_image); the weights do not depend on the size, so the vectors are
then embedded at 224 as always. Prints the held-out accuracy after each epoch, so a run that
learned nothing is seen. Usage:
    python bench/decisions/fashion_weights.py --images ../shared/datasets/fashion/images \\
        --styles ../shared/datasets/fashion/styles.csv --out /tmp/fashion.weights.h5 [--epochs 4]
"""
from __future__ import annotations

import argparse
import time
import sys
from pathlib import Path

import numpy as np
import pandas as pd

import settings
from embed.images import load_image
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/: harness, vectors
from harness import describe  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", type=Path, required=True)
    p.add_argument("--styles", type=Path, required=True, help="CSV with id and articleType")
    p.add_argument("--out", type=Path, required=True, help="the weights file to write (*.weights.h5)")
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--size", type=int, default=112)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--min-examples", type=int, default=30, help="article types with fewer are left out")
    args = p.parse_args()
    if not args.out.name.endswith(".weights.h5"):
        raise SystemExit(f"--out must end in .weights.h5 (Keras' weights format), not {args.out.name}")
    print(describe(), flush=True)

    held_out = {f.stem for f in settings.DEMO_FASHION_IMAGES.glob("*.jpg")}  # the demo catalogue
    styles = pd.read_csv(args.styles, usecols=["id", "articleType"], dtype={"id": str})
    styles = styles[styles["id"].map(lambda i: (args.images / f"{i}.jpg").is_file() and i not in held_out)]
    counts = styles["articleType"].value_counts()
    styles = styles[styles["articleType"].isin(counts[counts >= args.min_examples].index)]
    classes = sorted(styles["articleType"].unique())
    labels = styles["articleType"].map({c: i for i, c in enumerate(classes)}).to_numpy()
    start = time.perf_counter()
    pixels = np.stack([load_image(args.images / f"{i}.jpg") for i in styles["id"]])
    print(f"{len(pixels):,} pictures of {len(classes)} article types ({len(held_out)} demo pictures held out), "
          f"read in {time.perf_counter() - start:.0f} s", flush=True)
    order = np.random.default_rng(0).permutation(len(pixels))
    test, train = order[: len(order) // 10], order[len(order) // 10:]
    commonest = float(np.mean(labels[test] == np.bincount(labels[train]).argmax()))  # what guessing gets

    import keras

    keras.utils.set_random_seed(0)
    base = keras.applications.ResNet50(include_top=False, weights=None, input_shape=(args.size, args.size, 3))
    inputs = keras.Input((settings.IMAGE_SIZE, settings.IMAGE_SIZE, 3), dtype="uint8")
    x = keras.layers.Resizing(args.size, args.size)(keras.ops.cast(inputs, "float32"))
    x = keras.applications.resnet50.preprocess_input(x)
    x = keras.layers.GlobalMaxPooling2D()(base(x))
    outputs = keras.layers.Dense(len(classes), activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    for epoch in range(1, args.epochs + 1):
        start = time.perf_counter()
        model.fit(pixels[train], labels[train], batch_size=args.batch_size, epochs=1, verbose=0, shuffle=True)
        _, accuracy = model.evaluate(pixels[test], labels[test], batch_size=128, verbose=0)
        print(f"epoch {epoch}: {time.perf_counter() - start:.0f} s, held-out accuracy {accuracy:.3f} "
              f"(the commonest type alone {commonest:.3f})", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    base.save_weights(args.out)
    print(f"wrote {args.out}: pass it as --weights {args.out}")


if __name__ == "__main__":
    main()
