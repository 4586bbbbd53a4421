"""Loads .pth files that mnext exported into the PyTorch twin's models (python/mnext_torch), strictly, and runs them.

    PYTHONPATH=python python3 run_twin.py <request.json>...

Each request names the weights file, the model as mnext names it (with width / num_classes / tensor_multiplier)
and a raw float32 NCHW input file with its shape. Prints a JSON list with, per request, the logits, the model's
state_dict (names and shapes, in order) and its trainable parameters with and without weight decay. One python start serves all
requests because importing torch takes seconds.
"""
import json
import sys

import torch

from mnext_torch import create_model
from mnext_torch.optim import decay_groups


def run(request):
    model = create_model(request['model'], num_classes=request['num_classes'], width=request['width'],
                         tensor_multiplier=request.get('tensor_multiplier', 1))
    keys = [[name, list(value.shape)] for name, value in model.state_dict().items()]
    decayed, plain = decay_groups(model)
    state = torch.load(request['weights'], map_location='cpu')
    model.load_state_dict(state, strict=True)
    model.eval()
    with open(request['input'], 'rb') as f:
        x = torch.frombuffer(bytearray(f.read()), dtype=torch.float32).reshape(request['input_shape'])
    with torch.no_grad():
        logits = model(x)
    return {'logits': logits.tolist(), 'keys': keys, 'decayed': decayed, 'plain': plain}


def main():
    results = []
    for path in sys.argv[1:]:
        with open(path) as f:
            results.append(run(json.load(f)))
    print(json.dumps(results))


if __name__ == '__main__':
    main()
