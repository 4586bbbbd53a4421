# Gradients of the twin's MobileNetV2 (torchvision's; train mode, label-smoothed CE) for the weights/input in argv[1]
# (JSON); prints the worst relative gradient error against the TS gradients stored there. Needs python/ on PYTHONPATH.
import json, sys, torch
from mnext_torch import create_model
d = json.load(open(sys.argv[1]))
m = create_model('mobilenetv2', width=0.5, num_classes=4, drop_rate=0.0)
sd = {k: torch.tensor(v['data']).reshape(v['shape']) for k, v in d['weights'].items()}
m.load_state_dict(sd, strict=False)
m.train()
x = torch.tensor(d['x']).reshape(8, 32, 32, 3).permute(0, 3, 1, 2).contiguous()
loss = torch.nn.CrossEntropyLoss(label_smoothing=0.1)(m(x), torch.tensor(d['labels']))
loss.backward()
worst = 0
largest = max(p.grad.norm().item() for p in m.parameters())
for name, p in m.named_parameters():
    ours = torch.tensor(d['grads'][name]).reshape(p.shape)
    if p.grad.norm().item() < 1e-4 * largest: continue  # mathematically zero (bias before BN): float noise only
    worst = max(worst, ((ours - p.grad).norm() / p.grad.norm()).item())
print(json.dumps({'loss': loss.item(), 'worst': worst}))
