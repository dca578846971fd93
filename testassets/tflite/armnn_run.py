#!/usr/bin/python3
"""A TFLite judge for tests: runs a .tflite file with Arm NN's TfLite parser (Debian's python3-pyarmnn, CpuRef backend).

Speaks ModelBuild's MODELBUILD_TFLITE_RUNTIME protocol: armnn_run.py MODEL.tflite INPUTS.npz OUTPUTS.npz. Each input
array holds samples stacked on axis 0 (in the file's layout and type); each is run alone (the file has batch 1), and the
outputs are stacked the same way. Prints "runtime: ..." first. Arm NN is independent of ModelBuild's writer: it has its
own flatbuffer reader (generated from TensorFlow's schema) and its own reference kernels.
"""
import sys

import numpy as np
import pyarmnn as ann


def main(model_path, inputs_path, outputs_path):
    print(f"runtime: Arm NN {ann.ARMNN_VERSION} TfLiteParser, CpuRef", flush=True)
    parser = ann.ITfLiteParser()
    network = parser.CreateNetworkFromBinaryFile(model_path)
    input_names = parser.GetSubgraphInputTensorNames(0)
    output_names = parser.GetSubgraphOutputTensorNames(0)
    input_info = [parser.GetNetworkInputBindingInfo(0, n) for n in input_names]
    output_info = [parser.GetNetworkOutputBindingInfo(0, n) for n in output_names]
    runtime = ann.IRuntime(ann.CreationOptions())
    optimized, _ = ann.Optimize(network, [ann.BackendId("CpuRef")], runtime.GetDeviceSpec(), ann.OptimizerOptions())
    network_id, _ = runtime.LoadNetwork(optimized)

    inputs = np.load(inputs_path)
    count = inputs[input_names[0]].shape[0]
    results = {n: [] for n in output_names}
    for i in range(count):
        tensors = ann.make_input_tensors(input_info, [np.ascontiguousarray(inputs[n][i:i + 1]) for n in input_names])
        outputs = ann.make_output_tensors(output_info)
        runtime.EnqueueWorkload(network_id, tensors, outputs)
        for name, value in zip(output_names, ann.workload_tensors_to_ndarray(outputs)):
            results[name].append(np.asarray(value).reshape(output_info[output_names.index(name)][1].GetShape()))
    np.savez(outputs_path, **{n: np.concatenate(v, axis=0) for n, v in results.items()})


if __name__ == "__main__":
    main(*sys.argv[1:4])
