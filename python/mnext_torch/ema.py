"""timm's ModelEma (spec §4.3): a shadow copy of every state_dict tensor — weights and BN running statistics —
blended after every optimiser step as e ← d·e + (1−d)·w, with no warm-up or bias correction. Integer buffers
(num_batches_tracked) are copied, not blended: the official blend truncates them to nonsense no one reads.
"""
import copy

import torch


class ModelEma:
    def __init__(self, model, decay):
        self.module = copy.deepcopy(model).eval()
        self.decay = decay
        for p in self.module.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, model):
        source = model.state_dict()
        for name, shadow in self.module.state_dict().items():
            value = source[name].detach()
            if shadow.is_floating_point():
                shadow.mul_(self.decay).add_(value, alpha=1 - self.decay)
            else:
                shadow.copy_(value)
