"""mnext_torch.train in float64, and its 1-process reference for a torchrun launch of N processes
(test/python/distributed.test.ts):

    PYTHONPATH=python torchrun --nproc_per_node=N ddp_step.py N TRAINER_ARGS...   the launch under test
    PYTHONPATH=python python3 ddp_step.py N TRAINER_ARGS...                       1 process, BatchNorm as N processes
    PYTHONPATH=python python3 ddp_step.py 1 TRAINER_ARGS...                       1 process, BatchNorm over the batch

Under DDP (SyncBN off) each process normalises its own share of the batch with its own batch statistics; the
DistributedSampler deals the global order out rank by rank, so process r's share is images r, r + N, r + 2N, ... of
the global batch. Every other layer is per image, and DDP averages the gradients of the processes' equal-sized
mean losses, which is the gradient of the mean loss over the whole batch. So one process whose BatchNorm layers
normalise x[r::N] separately computes what N processes compute. The running statistics DDP keeps (rank 0's, which it
checkpoints) come from rank 0's share alone: here share 0 updates them, the others use only their own batch
statistics. In eval mode the layer is the plain BatchNorm.

Float64 models (inputs cast on the way in): at random initialisation these networks are so ill-conditioned that
float32 rounding alone moves the largest gradients by ~1e-3 relative between two exact rewritings of the same sum
(per-share BatchNorm in one pass vs one pass per share), which would hide what the comparison is about.
"""
import os
import sys

import torch
from torch import nn
from torch.nn import functional as F

import mnext_torch.train as trainer


class PerProcessBatchNorm(nn.BatchNorm2d):
    processes = 1

    def forward(self, x):
        n = self.processes
        if not self.training or n == 1:
            return super().forward(x)
        shares = [super().forward(x[0::n])]  # rank 0's share: its statistics are the ones DDP keeps
        shares += [F.batch_norm(x[r::n], None, None, self.weight, self.bias, True, 0.0, self.eps) for r in range(1, n)]
        return torch.stack(shares, 1).reshape(x.shape)  # back in the global batch's order


def float64_model(build, batch_norm_processes):
    def build_model(config, num_classes):
        model = build(config, num_classes).double()
        model.register_forward_pre_hook(lambda module, inputs: tuple(x.double() for x in inputs))
        for module in model.modules():
            if type(module) is nn.BatchNorm2d and batch_norm_processes > 1:
                module.__class__ = PerProcessBatchNorm
        return model
    return build_model


def main():
    processes, argv = int(sys.argv[1]), sys.argv[2:]
    # Under torchrun the processes are real; one process imitates them in its BatchNorm layers.
    imitated = 1 if 'WORLD_SIZE' in os.environ else processes
    PerProcessBatchNorm.processes = imitated
    trainer.build_model = float64_model(trainer.build_model, imitated)
    sys.exit(trainer.main(argv))


if __name__ == '__main__':
    main()
