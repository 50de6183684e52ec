"""Decided: OpenVINO with NNCF post-training quantisation as the int8 path (embed/int8.py), over ONNX Runtime.

Which runtime gives ResNet50 + global max pooling an int8 path on this CPU: Keras fp32 (today's
job, the baseline) against OpenVINO fp32 / int8 (NNCF post-training quantisation) and ONNX Runtime
fp32 / int8 (tf2onnx from a SavedModel, then static QDQ quantisation, per channel), in one run on
the same images: images/s of the model alone (batches of 32, all cores), mean cosine to the Keras
vectors, and top-5 neighbour agreement with them. Calibration: 300 other catalogue images.

Needs, beyond requirements-dev.txt: `pip install onnxruntime tf2onnx sympy` (openvino and nncf are
Vitrine's own int8 path). Random weights unless --weights gives others (ImageNet's cannot be
downloaded on the machines this was written on).
Usage:
    python bench/decisions/int8_candidates.py --images ../shared/datasets/fashion/images [-n 256] [--weights none]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/: harness
import numpy as np  # noqa: E402

from embed.images import load_image  # noqa: E402
from embed.precision import top_k_agreement as agreement  # noqa: E402
from harness import describe  # noqa: E402


def unit(v):
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=Path, required=True)
    parser.add_argument("-n", type=int, default=256)
    parser.add_argument("--weights", default="none")
    args = parser.parse_args()
    print(describe())
    files = sorted(args.images.glob("*.jpg"))
    calib = np.stack([load_image(f) for f in files[:300]])
    test = np.stack([load_image(f) for f in files[1000:1000 + args.n]])

    import keras
    import tensorflow as tf
    from embed.model import _resnet50
    from embed.weights import parse_weights

    model = _resnet50(parse_weights(args.weights), "float32")

    def pre(x):
        return keras.applications.resnet50.preprocess_input(x.astype(np.float32))

    @tf.function(input_signature=[tf.TensorSpec([None, 224, 224, 3], tf.float32)])
    def forward(x):
        return model(x, training=False)

    def bench(fn, name, batch=32):
        fn(pre(test[:batch]))
        start, out = time.perf_counter(), []
        for i in range(0, len(test), batch):
            out.append(fn(pre(test[i:i + batch])))
        rate = len(test) / (time.perf_counter() - start)
        return unit(np.concatenate(out)), rate

    ref, base = bench(lambda x: forward(tf.constant(x)).numpy(), "keras fp32")
    rows = [("Keras fp32 (baseline)", base, 1.0, 1.0)]

    import openvino as ov
    from embed.int8 import quantize  # Vitrine's own recipe (overflow fix in every layer)
    core = ov.Core()
    threads = {"INFERENCE_NUM_THREADS": len(os.sched_getaffinity(0))}
    converted = ov.convert_model(forward)
    v, rate = bench(lambda x, m=core.compile_model(converted, "CPU", {**threads, "INFERENCE_PRECISION_HINT": "f32"}): m(x)[0], "")
    rows.append(("OpenVINO fp32", rate, float(np.mean(np.sum(v * ref, 1))), agreement(v, ref)))
    quantized = quantize(converted, pre(calib))
    v, rate = bench(lambda x, m=core.compile_model(quantized, "CPU", threads): m(x)[0], "")
    rows.append(("OpenVINO int8 (NNCF)", rate, float(np.mean(np.sum(v * ref, 1))), agreement(v, ref)))

    try:
        import onnxruntime as ort
        from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
        from onnxruntime.quantization.shape_inference import quant_pre_process
    except ImportError:
        print("ONNX Runtime left out: pip install onnxruntime tf2onnx sympy")
    else:
        work = tempfile.mkdtemp()
        model.export(f"{work}/sm", format="tf_saved_model")
        subprocess.run([sys.executable, "-m", "tf2onnx.convert", "--saved-model", f"{work}/sm", "--output",
                        f"{work}/m.onnx", "--opset", "17"], check=True, capture_output=True)
        options = ort.SessionOptions()
        options.intra_op_num_threads = len(os.sched_getaffinity(0))
        session = ort.InferenceSession(f"{work}/m.onnx", options, providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        v, rate = bench(lambda x: session.run(None, {name: x})[0], "")
        rows.append(("ONNX Runtime fp32", rate, float(np.mean(np.sum(v * ref, 1))), agreement(v, ref)))

        class Reader(CalibrationDataReader):
            def __init__(self):
                self.it = iter([{name: pre(calib[i:i + 10])} for i in range(0, len(calib), 10)])

            def get_next(self):
                return next(self.it, None)

        quant_pre_process(f"{work}/m.onnx", f"{work}/mp.onnx")
        quantize_static(f"{work}/mp.onnx", f"{work}/m8.onnx", Reader(), quant_format=QuantFormat.QDQ,
                        per_channel=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
        s8 = ort.InferenceSession(f"{work}/m8.onnx", options, providers=["CPUExecutionProvider"])
        v, rate = bench(lambda x: s8.run(None, {name: x})[0], "")
        rows.append(("ONNX Runtime int8 (static QDQ)", rate, float(np.mean(np.sum(v * ref, 1))), agreement(v, ref)))

    print(f"{len(test)} images, model alone, batches of 32, weights {args.weights}")
    print(f"{'runtime':32} {'images/s':>9} {'x Keras':>8} {'cosine':>8} {'top-5 agreement':>16}")
    for label, rate, cos, agree in rows:
        print(f"{label:32} {rate:9.1f} {rate / base:8.2f} {cos:8.4f} {agree:16.3f}")


if __name__ == "__main__":
    main()
