"""Inference latency of Glassbox's own exports, for `glassbox bench infer` (built in).

    python infer_bench.py MANIFEST --threads N --target-s S --reps R

MANIFEST lists cases {workload, batch, onnx, torch_model, weights, input: {file, shape, dtype}}.
Prints one JSON line per framework and case: {fw, workload, batch, threads, median_ms, min_ms};
a framework that cannot be imported prints {fw, skipped: reason} once.
"""

import argparse
import json
import time

import numpy as np


def load(spec):
    dtype = {"f32": np.float32, "i64": np.int64}[spec["dtype"]]
    return np.fromfile(spec["file"], dtype=dtype).reshape(spec["shape"])


def timed(fn, reps, target_s):
    for _ in range(3):
        fn()
    per_rep = []
    for _ in range(reps):
        n, t0 = 0, time.perf_counter()
        while True:
            fn()
            n += 1
            if time.perf_counter() - t0 >= target_s / reps:
                break
        per_rep.append((time.perf_counter() - t0) / n * 1e3)
    per_rep.sort()
    return per_rep[len(per_rep) // 2], per_rep[0]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("manifest")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--target-s", type=float, default=2.0)
    p.add_argument("--reps", type=int, default=7)
    a = p.parse_args()
    cases = json.load(open(a.manifest))
    runners = []
    try:
        import onnxruntime as ort

        def ort_case(case):
            o = ort.SessionOptions()
            o.intra_op_num_threads, o.inter_op_num_threads = a.threads, 1
            s = ort.InferenceSession(case["onnx"], o, providers=["CPUExecutionProvider"])
            x = load(case["input"])
            return lambda: s.run(["output"], {"input": x})

        runners.append(("onnxruntime " + ort.__version__, ort_case))
    except Exception as e:  # reported, not fatal
        print(json.dumps({"fw": "onnxruntime", "skipped": str(e)}), flush=True)
    try:
        import importlib.util

        import torch

        torch.set_num_threads(a.threads)

        def torch_case(case):
            spec = importlib.util.spec_from_file_location("m", case["torch_model"])
            m = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(m)
            net = m.build_model(case["weights"]).eval()
            x = torch.from_numpy(load(case["input"]))

            def run():
                with torch.inference_mode():
                    net(x)

            return run

        runners.append(("pytorch " + torch.__version__, torch_case))
    except Exception as e:
        print(json.dumps({"fw": "pytorch", "skipped": str(e)}), flush=True)
    for case in cases:
        for name, make in runners:
            med, mn = timed(make(case), a.reps, a.target_s)
            print(json.dumps({"fw": name, "workload": case["workload"], "batch": case["batch"],
                              "threads": a.threads, "median_ms": med, "min_ms": mn}), flush=True)


if __name__ == "__main__":
    main()
