#!/usr/bin/env python3
"""Runs a .tflite file in Arm NN (Debian's python3-pyarmnn) and prints its outputs as JSON.

An independent check of mnext's TFLite writer: Arm NN parses the flatbuffer with its own ITfLiteParser
(not TensorFlow's code) and executes it on the CpuRef reference backend.

    python3 scripts/pyarmnn_run.py MODEL.tflite INPUT.bin

INPUT.bin holds float32 little-endian values for one or more inputs of the model's input shape, back to back
(NHWC). The model runs once per input; stdout gets {"armnn": version, "backend": "CpuRef", "outputs": [[...], ...]}
with one flattened output per input. Exit code 3 means pyarmnn is not installed.
"""
import json
import sys

try:
    import contextlib

    import numpy as np

    # pyarmnn announces the parsers it lacks on stdout at import; keep stdout for the JSON result.
    with contextlib.redirect_stdout(sys.stderr):
        import pyarmnn as ann
except ImportError as error:  # the caller skips its check with this message
    print(f"pyarmnn is not importable: {error}", file=sys.stderr)
    sys.exit(3)


def main(model_path: str, input_path: str) -> None:
    parser = ann.ITfLiteParser()
    network = parser.CreateNetworkFromBinaryFile(model_path)
    input_name = parser.GetSubgraphInputTensorNames(0)[0]
    output_name = parser.GetSubgraphOutputTensorNames(0)[0]
    input_info = parser.GetNetworkInputBindingInfo(0, input_name)
    output_info = parser.GetNetworkOutputBindingInfo(0, output_name)

    runtime = ann.IRuntime(ann.CreationOptions())
    optimized, messages = ann.Optimize(network, [ann.BackendId("CpuRef")], runtime.GetDeviceSpec(), ann.OptimizerOptions())
    net_id, _ = runtime.LoadNetwork(optimized)

    per_input = input_info[1].GetNumElements()
    data = np.fromfile(input_path, dtype="<f4")
    if data.size == 0 or data.size % per_input != 0:
        raise SystemExit(f"{input_path}: {data.size} values is not a multiple of the model input size {per_input}")
    outputs = []
    for chunk in data.reshape(-1, per_input):
        input_tensors = ann.make_input_tensors([input_info], [chunk.astype(np.float32)])
        output_tensors = ann.make_output_tensors([output_info])
        runtime.EnqueueWorkload(net_id, input_tensors, output_tensors)
        result = ann.workload_tensors_to_ndarray(output_tensors)[0]
        outputs.append([float(v) for v in np.asarray(result, dtype=np.float64).ravel()])
    json.dump({"armnn": ann.ARMNN_VERSION, "backend": "CpuRef", "outputs": outputs}, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    main(sys.argv[1], sys.argv[2])
