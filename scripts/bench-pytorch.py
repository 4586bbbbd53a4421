#!/usr/bin/python3
"""PyTorch side of `mnext bench train|infer`: the same workload (MobileNeXt from python/mnext_torch, the official
module tree; random data, SGD momentum step per batch, label smoothing 0.1) so the tfjs/PyTorch ratio can be
measured back to back. Prints one JSON object with the keys `mnext bench --json` prints, and `blas`: the BLAS
library the process mapped (`loaded_blas`). Debian's python3-torch calls the system BLAS (`libblas.so.3`, an
alternative): with the reference BLAS (package libblas3) the classifier's nn.Linear (aten::addmm / aten::mm)
took 32% of a 32 px batch-128 training step here, with OpenBLAS (libopenblas0-pthread) about 2%.

    python3 scripts/bench-pytorch.py train --width 1.0 --input-size 64 --batch 16 --threads 2
    python3 scripts/bench-pytorch.py infer --width 1.0 --input-size 224 --batch 1 --threads 2
    python3 scripts/bench-pytorch.py train --model mobilenetv2 --input-size 224 --batch 16
"""
import argparse
import json
import os
import re
import resource
import sys
import time

import torch
import torch.nn as nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'python'))
from mnext_torch import create_model  # noqa: E402


OPTIMISED_BLAS = re.compile(r"^lib(openblas|blis|mkl_rt|[st]?atlas)")


def loaded_blas():
    """The BLAS library this process mapped, by the basename of its file (/proc/self/maps; call it after torch
    ran a step). libtorch needs `libblas.so.3`: Debian's reference BLAS there (its `blas/` directory) is reported
    as e.g. "libblas.so.3.11.0 (reference)" whatever else is mapped; otherwise the optimised library behind it
    (OpenBLAS, BLIS, MKL, ATLAS), e.g. "libopenblasp-r0.3.21.so"; else the libblas file; None off Linux or
    when no BLAS is mapped."""
    try:
        with open("/proc/self/maps") as maps:
            paths = sorted({fields[5].strip() for fields in (line.split(None, 5) for line in maps) if len(fields) == 6})
    except OSError:
        return None
    names = [(path, os.path.basename(path)) for path in paths]
    reference = [name for path, name in names if name.startswith("libblas.so") and "/blas/" in path]
    optimised = [name for _, name in names if OPTIMISED_BLAS.match(name)]
    plain = [name for _, name in names if name.startswith("libblas.so")]
    if reference:
        return f"{reference[0]} (reference)"
    return (optimised or plain or [None])[0]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("mode", choices=["train", "infer"])
    parser.add_argument("--model", default="mobilenext")
    parser.add_argument("--width", type=float, default=1.0)
    parser.add_argument("--input-size", type=int)
    parser.add_argument("--batch", type=int)
    parser.add_argument("--num-classes", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int)
    parser.add_argument("--warmup", type=int)
    args = parser.parse_args()
    train = args.mode == "train"
    size = args.input_size or (64 if train else 224)
    batch = args.batch or (16 if train else 1)
    steps = args.steps or (10 if train else 50)
    warmup = args.warmup if args.warmup is not None else (2 if train else 5)
    torch.set_num_threads(args.threads)
    torch.manual_seed(42)
    model = create_model(args.model, num_classes=args.num_classes, width=args.width)
    images = torch.randn(batch, 3, size, size)
    labels = torch.randint(0, args.num_classes, (batch,))
    if train:
        model.train()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=4e-5)
        loss_fn = nn.CrossEntropyLoss(label_smoothing=0.1)

        def step():
            optimizer.zero_grad(set_to_none=True)
            loss_fn(model(images), labels).backward()
            optimizer.step()
    else:
        model.eval()

        def step():
            with torch.no_grad():
                model(images)

    for _ in range(warmup):
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    ms = (time.perf_counter() - start) * 1000 / steps
    print(json.dumps({
        "mode": args.mode, "model": args.model, "width": args.width, "inputSize": size, "batch": batch,
        "backend": f"pytorch-{torch.__version__}", "workers": args.threads, "imgPerSec": batch * 1000 / ms,
        "msPerStep": ms, "peakRssMb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "tensorsBefore": None, "tensorsAfter": None, "tensorsLeaked": None, "blas": loaded_blas(),
    }, indent=2))


if __name__ == "__main__":
    main()
