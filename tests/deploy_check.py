"""Checks Glassbox's exports with the tools that consume them (run by tests/deploy.rs).

    python deploy_check.py onnx MANIFEST   # onnx.checker (full) + onnxruntime vs Glassbox
    python deploy_check.py torch MANIFEST  # the exported PyTorch module vs Glassbox

MANIFEST is JSON: a list of cases {name, model, input: {file, shape, dtype}, expected:
{file, shape}}, where the files hold raw little-endian values. One JSON line per case is
printed: {name, ok, max_abs_diff, error}.
"""

import json
import sys

import numpy as np


def load(spec):
    dtype = {"f32": np.float32, "i64": np.int64}[spec["dtype"]]
    return np.fromfile(spec["file"], dtype=dtype).reshape(spec["shape"])


def report(name, got, expected):
    got = np.asarray(got, dtype=np.float32)
    if got.shape != expected.shape:
        return {"name": name, "ok": False, "error": f"shape {got.shape} != {expected.shape}"}
    diff = float(np.max(np.abs(got - expected))) if got.size else 0.0
    return {"name": name, "ok": bool(np.isfinite(diff)), "max_abs_diff": diff}


def check_onnx(case):
    import onnx
    import onnxruntime as ort

    model = onnx.load(case["model"])
    onnx.checker.check_model(model, full_check=True)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    session = ort.InferenceSession(case["model"], opts, providers=["CPUExecutionProvider"])
    x = load(case["input"])
    (got,) = session.run(["output"], {"input": x})
    return report(case["name"], got, load(case["expected"]))


def check_torch(case):
    import importlib.util

    import torch

    spec = importlib.util.spec_from_file_location("exported", case["torch_model"])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    net = module.build_model(case["weights"])
    net.eval()
    x = torch.from_numpy(load(case["input"]))
    with torch.no_grad():
        got = net(x).numpy()
    return report(case["name"], got, load(case["expected"]))


def main():
    kind, manifest = sys.argv[1], sys.argv[2]
    check = {"onnx": check_onnx, "torch": check_torch}[kind]
    for case in json.load(open(manifest)):
        try:
            result = check(case)
        except Exception as e:  # every failure is reported against its case
            result = {"name": case["name"], "ok": False, "error": f"{type(e).__name__}: {e}"}
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
