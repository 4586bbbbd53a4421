import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../../src/backend/index.js';
import { InputError } from '../../../src/errors.js';
import { loadFixture } from '../../../src/io/fixture.js';
import { loadModelSource } from '../../../src/io/model-source.js';
import type { StateDict } from '../../../src/models/state-dict.js';
import { extractStateDict } from '../../../src/io/torch/checkpoint-dict.js';
import { readTorchFile } from '../../../src/io/torch/load.js';
import { PyDict, PyObject } from '../../../src/io/torch/pickle.js';
import { importTorchWeights } from '../../../src/io/torch/source.js';
import { TorchTensor } from '../../../src/io/torch/tensor.js';
import { TfjsModel, nchwToNhwc } from '../../../src/models/executor.js';
import { buildGraph } from '../../../src/models/registry.js';
import { referenceFixture, referenceFixturesMissing, referenceTorchFile } from '../../reference-fixtures.js';
import { SKIP_NO_TORCH, maxAbsDiff, runTorchPython } from './python.js';

function assertSameWeights(actual: StateDict, expected: StateDict): void {
  assert.deepEqual([...actual.keys()].sort(), [...expected.keys()].sort());
  for (const [name, array] of expected) {
    const got = actual.get(name)!;
    assert.deepEqual(got.shape, array.shape, name);
    assert.deepEqual(got.data, array.data, name);
  }
}

/** Eval-mode logits of weights on an NCHW batch through the tfjs executor. */
function logitsOf(source: { spec: Parameters<typeof buildGraph>[0]; weights: StateDict }, input: Float32Array, shape: [number, number, number, number]): Float32Array {
  const model = new TfjsModel(buildGraph(source.spec), source.weights);
  try {
    return tf.tidy(() => model.forward(nchwToNhwc(input, shape), { training: false }).logits.dataSync() as Float32Array);
  } finally {
    model.dispose();
  }
}

describe('torch.save readers on the reference fixtures', { skip: referenceFixturesMissing }, () => {
  before(async () => {
    await initBackend();
  });

  for (const suffix of ['.pth', '.ckpt.pth.tar'] as const) {
    for (const useEma of suffix.endsWith('.tar') ? [false, true] : [false]) {
      it(`mnext_050_64_c10${suffix}${useEma ? ' --use-ema' : ''}: equals the .weights.bin tensors and gives the fixture logits`, async () => {
        const fixture = loadFixture(referenceFixture('mnext_050_64_c10'));
        const before = tf.memory().numTensors;
        const source = await loadModelSource(referenceTorchFile(suffix), { useEma, width: 0.5 });
        assert.deepEqual(source.spec, { ...fixture.spec, inputSize: 224 });
        assertSameWeights(source.weights, fixture.weights);
        const logits = logitsOf(source, fixture.input, [...fixture.inputShape]);
        assert.ok(maxAbsDiff(logits, fixture.logits.flat()) <= 1e-3);
        assert.equal(tf.memory().numTensors, before);
      });
    }
  }

  it('reads the legacy training checkpoint\'s scalars and strips module. prefixes', () => {
    const file = readTorchFile(referenceTorchFile('.ckpt.pth.tar'));
    assert.equal(file.format, 'legacy');
    const picked = extractStateDict(file.root, { source: 'ckpt' });
    assert.equal(picked.entry, 'state_dict');
    assert.deepEqual(picked.info, { epoch: 7, arch: 'mnext', version: 2 });
    assert.ok([...picked.weights.keys()].every((k) => !k.startsWith('module.') && !k.endsWith('num_batches_tracked')));
  });

  it('a wrong width fails with missing/wrong-shape keys and names the width that fits', () => {
    assert.throws(() => importTorchWeights(referenceTorchFile('.pth'), { width: 0.75 }),
      (e: unknown) => e instanceof InputError && /wrong shape/.test(e.message) && /matches --arch mobilenext --width 0.5 --num-classes 10/.test(e.message));
    assert.throws(() => importTorchWeights(referenceTorchFile('.pth'), { width: 0.5, numClasses: 1000 }),
      (e: unknown) => e instanceof InputError && /10 classes, the model 1000/.test(e.message));
  });

  it('truncated and corrupt files give one clear InputError', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mnext-torch-bad-'));
    try {
      const cases: [string, Uint8Array, RegExp][] = [];
      const zip = readFileSync(referenceTorchFile('.pth'));
      const legacy = readFileSync(referenceTorchFile('.ckpt.pth.tar'));
      cases.push(['zip-truncated.pth', zip.subarray(0, zip.length - 100), /truncated or corrupt/]);
      cases.push(['legacy-truncated.pth.tar', legacy.subarray(0, legacy.length - 1000), /storage \d+ is truncated/]);
      cases.push(['legacy-cut-pickle.pth.tar', legacy.subarray(0, 5000), /unexpected end of data/]);
      const flipped = Buffer.from(legacy);
      flipped[200] = 0xfe; // an unknown opcode inside the pickle
      cases.push(['legacy-corrupt.pth.tar', flipped, /not a readable PyTorch file/]);
      cases.push(['random.pth', new Uint8Array(4096).map((_, i) => (i * 7919) % 251), /neither a torch.save zip nor a legacy/]);
      cases.push(['empty.pth', new Uint8Array(0), /neither a torch.save zip nor a legacy/]);
      for (const [name, bytes, pattern] of cases) {
        const path = join(dir, name);
        writeFileSync(path, bytes);
        assert.throws(() => importTorchWeights(path, { width: 0.5 }), (e: unknown) => e instanceof InputError && pattern.test(e.message) && e.message.includes(path), name);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** Files only PyTorch itself can make: dtypes, strides, offsets, protocols, EMA checkpoints, TorchScript. */
const MAKE_FILES = String.raw`
import sys, json, argparse, collections, torch
from mnext_torch import create_model
out = sys.argv[1]
torch.manual_seed(0)
expected = {}
base = torch.randn(4, 6)
tensors = {'half': torch.randn(3, 5).half(), 'transposed': base.t(), 'slice': base[1:3, 2:5], 'shared': base,
           'longs': torch.tensor([[1, -2], [3, 2**40]]), 'double': torch.randn(2, 3).double(),
           'bf16': torch.randn(4).bfloat16(), 'scalar': torch.tensor(2.5), 'empty': torch.zeros(0, 3)}
for name, t in tensors.items():
    expected[name] = {'shape': list(t.shape), 'values': t.float().flatten().tolist()}
torch.save(tensors, out + '/dtypes.pth')
torch.save(tensors, out + '/dtypes_p4.pth', pickle_protocol=4)
torch.save(tensors, out + '/dtypes_legacy.pth', _use_new_zipfile_serialization=False)

model = create_model('mobilenext', num_classes=7, width=0.35).eval()
with torch.no_grad():
    for p in model.state_dict().values():
        if p.dtype == torch.float32:
            p.copy_(torch.randn_like(p) * 0.2 + (1.0 if p.dim() == 1 else 0.0))
ema = create_model('mobilenext', num_classes=7, width=0.35).eval()
with torch.no_grad():
    for (k, p), q in zip(model.state_dict().items(), ema.state_dict().values()):
        q.copy_(p * 0.9 if p.dtype == torch.float32 else p)
x = torch.randn(2, 3, 32, 32)
x.numpy().tofile(out + '/input.bin')
with torch.no_grad():
    expected['raw_logits'] = model(x).flatten().tolist()
    expected['ema_logits'] = ema(x).flatten().tolist()
prefixed = lambda sd: collections.OrderedDict(('module.' + k, v) for k, v in sd.items())
checkpoint = {'epoch': 3, 'arch': 'mnext_mbv2_cfg', 'state_dict': prefixed(model.state_dict()),
              'state_dict_ema': prefixed(ema.state_dict()), 'optimizer': {'state': {}, 'param_groups': [{'lr': 0.1}]},
              'args': argparse.Namespace(lr=0.1, model='mnext_mbv2_cfg'), 'version': 2, 'metric': 12.5}
torch.save(checkpoint, out + '/train.pth.tar', _use_new_zipfile_serialization=False)
torch.save({'model': model.state_dict()}, out + '/model_key.pth')
torch.save(model, out + '/whole_model.pth')
torch.jit.script(torch.nn.Linear(2, 2)).save(out + '/scripted.pt')
json.dump(expected, open(out + '/expected.json', 'w'))
`;

interface Expected {
  [name: string]: { shape: number[]; values: number[] } | number[];
}

describe('torch.save files made by PyTorch 1.13', { skip: SKIP_NO_TORCH }, () => {
  let dir = '';
  let expected: Expected = {};
  before(async () => {
    await initBackend();
    dir = mkdtempSync(join(tmpdir(), 'mnext-torch-files-'));
    runTorchPython(MAKE_FILES, [dir]);
    expected = JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8')) as Expected;
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  for (const file of ['dtypes.pth', 'dtypes_p4.pth', 'dtypes_legacy.pth']) {
    it(`${file}: float16, bfloat16, float64, int64, scalars, non-contiguous views and storage offsets`, () => {
      const root = readTorchFile(join(dir, file)).root;
      assert.ok(root instanceof PyDict);
      for (const [name, value] of root.map) {
        const want = expected[String(name)] as { shape: number[]; values: number[] };
        assert.ok(value instanceof TorchTensor, String(name));
        assert.deepEqual(value.shape, want.shape, String(name));
        assert.deepEqual([...value.toFloat32()], want.values.map(Math.fround), String(name));
      }
      const slice = root.get('slice') as TorchTensor;
      assert.equal(slice.storageOffset, 8); // base[1:3, 2:5] views base's storage at 1*6+2
      assert.equal(slice.storage.root, (root.get('shared') as TorchTensor).storage.root);
    });
  }

  it('training checkpoint: state_dict or --use-ema picks the matching weights, args stay an inert object', async () => {
    const input = new Float32Array(readFileSync(join(dir, 'input.bin')).buffer.slice(0));
    const path = join(dir, 'train.pth.tar');
    const raw = importTorchWeights(path, { width: 0.35, inputSize: 32 });
    assert.equal(raw.entry, 'state_dict');
    assert.equal(raw.source.spec.numClasses, 7); // read off classifier.1.weight
    assert.ok(raw.emaWeights);
    assert.deepEqual(raw.info, { epoch: 3, arch: 'mnext_mbv2_cfg', version: 2, metric: 12.5 });
    assert.ok(maxAbsDiff(logitsOf(raw.source, input, [2, 3, 32, 32]), expected.raw_logits as number[]) <= 1e-4);
    const ema = await loadModelSource(path, { width: 0.35, useEma: true });
    assert.ok(maxAbsDiff(logitsOf(ema, input, [2, 3, 32, 32]), expected.ema_logits as number[]) <= 1e-4);
    const args = (readTorchFile(path).root as PyDict).get('args');
    assert.ok(args instanceof PyObject && args.callable.qualifiedName === 'argparse.Namespace');
  });

  it('a {"model": state_dict} dict loads; --use-ema without EMA weights is an error', () => {
    const path = join(dir, 'model_key.pth');
    assert.equal(importTorchWeights(path, { width: 0.35 }).entry, 'model');
    assert.throws(() => importTorchWeights(path, { width: 0.35, useEma: true }), (e: unknown) => e instanceof InputError && /no EMA weights/.test(e.message));
  });

  it('whole pickled models and TorchScript archives are refused with a hint, nothing executed', () => {
    assert.throws(() => importTorchWeights(join(dir, 'whole_model.pth'), { width: 0.35 }),
      (e: unknown) => e instanceof InputError && /pickled mnext_torch\.models\.mobilenext\.MXNet object/.test(e.message) && /state_dict\(\)/.test(e.message));
    assert.throws(() => importTorchWeights(join(dir, 'scripted.pt'), {}), (e: unknown) => e instanceof InputError && /TorchScript/.test(e.message));
  });
});
