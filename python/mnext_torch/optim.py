"""The optimisers of timm's optim factory as the official runs used them (spec §4.3, src/train/optim.ts): SGD with
Nesterov or plain momentum, RMSpropTF (TF-style: squares start at 1, ε inside the sqrt, lr folded into the
momentum), AdamW. Weight decay is coupled L2 for SGD and RMSpropTF, decoupled for AdamW, and never applied to
1-D parameters or biases (timm's add_weight_decay groups).
"""
import torch
from torch.optim import SGD, AdamW, Optimizer


def decay_groups(model):
    """(names with weight decay, names without): no decay on 1-D parameters (BN γ, β) and on any `.bias`."""
    decayed, plain = [], []
    for name, param in model.named_parameters():
        if param.requires_grad:
            (plain if param.ndim <= 1 or name.endswith('.bias') else decayed).append(name)
    return decayed, plain


class RMSpropTF(Optimizer):
    """timm's RMSpropTF with lr_in_momentum, not centred, coupled decay: v ← v + (1−α)(g² − v) from v = 1;
    b ← μb + lr·g/sqrt(v + ε); p ← p − b. An lr change only scales new contributions to b."""

    def __init__(self, params, lr, alpha=0.9, eps=1e-10, momentum=0.0, weight_decay=0.0):
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, momentum=momentum, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):
        loss = None if closure is None else closure()
        for group in self.param_groups:
            for p in group['params']:
                if p.grad is None:
                    continue
                grad = p.grad
                if group['weight_decay'] != 0:
                    grad = grad.add(p, alpha=group['weight_decay'])
                state = self.state[p]
                if not state:
                    state['step'] = 0
                    state['square_avg'] = torch.ones_like(p)
                    if group['momentum'] > 0:
                        state['momentum_buffer'] = torch.zeros_like(p)
                state['step'] += 1
                square_avg = state['square_avg']
                square_avg.add_(grad.pow(2) - square_avg, alpha=1 - group['alpha'])
                avg = square_avg.add(group['eps']).sqrt_()
                if group['momentum'] > 0:
                    buffer = state['momentum_buffer']
                    buffer.mul_(group['momentum']).addcdiv_(grad, avg, value=group['lr'])
                    p.sub_(buffer)
                else:
                    p.addcdiv_(grad, avg, value=-group['lr'])
        return loss


def create_optimizer(model, config):
    """timm's create_optimizer for the names mnext accepts ('sgd' is Nesterov SGD, as in timm 0.1)."""
    decayed, plain = decay_groups(model)
    params = dict(model.named_parameters())
    groups = [{'params': [params[n] for n in plain], 'weight_decay': 0.0},
              {'params': [params[n] for n in decayed], 'weight_decay': config['weight_decay']}]
    opt, lr, momentum, eps = config['opt'], config['lr'], config['momentum'], config['opt_eps']
    if opt in ('sgd', 'nesterov', 'momentum'):
        # torch refuses Nesterov without momentum; at momentum 0 both are plain SGD, as in mnext.
        return SGD(groups, lr=lr, momentum=momentum, nesterov=opt != 'momentum' and momentum > 0)
    if opt == 'rmsproptf':
        return RMSpropTF(groups, lr=lr, alpha=0.9, eps=eps, momentum=momentum)
    return AdamW(groups, lr=lr, betas=(0.9, 0.999), eps=eps)
