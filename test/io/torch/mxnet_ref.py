"""Loads .pth files that mnext exported into the PyTorch reference models, strictly, and runs them.

The models are the project's one PyTorch transcription (scripts/torch_reference.py: the official `MXNet` with
`identity_div`, torchvision's `mobilenet_v2` for the baseline), which is proven against the official fixtures.

    python3 mxnet_ref.py <request.json>...

Each request names the weights file, the model (`mnext` | `mbv2`) with width / num_classes / identity_div, and a
raw float32 NCHW input file with its shape. Prints a JSON list with each request's logits. One python start
serves all requests because importing torch takes seconds.
"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', '..', 'scripts'))
from torch_reference import MXNet, build  # noqa: E402  (re-exported for the test that builds models)

__all__ = ['MXNet', 'run']


def run(request):
    model = build(request['model'], request['width'], request['num_classes'], request.get('identity_div', 1))
    state = torch.load(request['weights'], map_location='cpu')
    model.load_state_dict(state, strict=True)
    model.eval()
    with open(request['input'], 'rb') as f:
        x = torch.frombuffer(bytearray(f.read()), dtype=torch.float32).reshape(request['input_shape'])
    with torch.no_grad():
        logits = model(x)
    return {'logits': logits.tolist(), 'keys': len(state)}


def main():
    results = []
    for path in sys.argv[1:]:
        with open(path) as f:
            results.append(run(json.load(f)))
    print(json.dumps(results))


if __name__ == '__main__':
    main()
