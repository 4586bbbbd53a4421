import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../../src/backend/index.js';
import { type Fixture, loadFixture } from '../../../src/io/fixture.js';
import { readTorchFile } from '../../../src/io/torch/load.js';
import { PyDict } from '../../../src/io/torch/pickle.js';
import { saveTorchStateDict, torchStateDictBytes } from '../../../src/io/torch/save.js';
import { importTorchWeights } from '../../../src/io/torch/source.js';
import { TorchTensor } from '../../../src/io/torch/tensor.js';
import { crc32 } from '../../../src/io/torch/zip.js';
import { TfjsModel, nchwToNhwc } from '../../../src/models/executor.js';
import { buildGraph, createModelGraph } from '../../../src/models/registry.js';
import { initStateDict } from '../../../src/models/weights.js';
import { type ReferenceFixtureName, referenceFixture, referenceFixturesMissing } from '../../reference-fixtures.js';
import { RUN_TWIN, SKIP_NO_TORCH, maxAbsDiff, runPythonFile, runTorchPython } from './python.js';

/** Local file headers of a zip: name and where its data starts. */
function zipEntries(bytes: Uint8Array): { name: string; dataOffset: number; size: number }[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const entries = [];
  let at = 0;
  while (view.getUint32(at, true) === 0x04034b50) {
    const size = view.getUint32(at + 18, true);
    const nameLength = view.getUint16(at + 26, true);
    const extraLength = view.getUint16(at + 28, true);
    const name = new TextDecoder().decode(bytes.subarray(at + 30, at + 30 + nameLength));
    const dataOffset = at + 30 + nameLength + extraLength;
    entries.push({ name, dataOffset, size });
    at = dataOffset + size;
  }
  return entries;
}

describe('state_dict export (zip torch.save)', () => {
  it('writes archive/data.pkl, 64-byte aligned stored records, version 3, and reads back identically', () => {
    const graph = createModelGraph('mobilenext', { width: 0.35, numClasses: 5, inputSize: 32 });
    const weights = initStateDict(graph, 7);
    const bytes = torchStateDictBytes(graph, weights);
    const entries = zipEntries(bytes);
    assert.equal(entries[0].name, 'archive/data.pkl');
    assert.equal(entries.at(-1)!.name, 'archive/version');
    assert.equal(new TextDecoder().decode(bytes.subarray(entries.at(-1)!.dataOffset, entries.at(-1)!.dataOffset + 2)), '3\n');
    for (const entry of entries) assert.equal(entry.dataOffset % 64, 0, entry.name);
    const dir = mkdtempSync(join(tmpdir(), 'mnext-export-'));
    try {
      const path = join(dir, 'model.pth');
      writeFileSync(path, bytes);
      const root = readTorchFile(path).root;
      assert.ok(root instanceof PyDict && root.ordered);
      const batchNorms = graph.nodes.filter((n) => n.op === 'batchnorm').length;
      assert.equal(root.map.size, graph.params.length + batchNorms);
      const counter = root.get('features.0.1.num_batches_tracked');
      assert.ok(counter instanceof TorchTensor && counter.dtype === 'int64' && counter.shape.length === 0);
      const back = importTorchWeights(path, { width: 0.35, inputSize: 32 });
      for (const [name, array] of weights) assert.deepEqual(back.source.weights.get(name)!.data, array.data, name);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('crc32 matches the zip standard check value', () => {
    assert.equal(crc32(new TextEncoder().encode('123456789')), 0xcbf43926);
  });
});

const REFERENCES: readonly ReferenceFixtureName[] = ['mnext_050_64_c10', 'mnext_100_64_c10_tm2', 'mobilenetv2_100_224', 'mnext_s_224'];

/**
 * Exports each reference fixture's weights with mnext, then has PyTorch (one python start: importing torch takes
 * seconds) torch.load + load_state_dict(strict=True) them into the twin's models (python/mnext_torch) and run the
 * fixture input.
 */
function exportAndRunInTorch(dir: string): Map<string, { fixture: Fixture; logits: number[] }> {
  const requests = REFERENCES.map((name) => {
    const fixture = loadFixture(referenceFixture(name));
    const weightsPath = join(dir, `${name}.pth`);
    saveTorchStateDict(weightsPath, buildGraph(fixture.spec), fixture.weights);
    const inputPath = join(dir, `${name}.input.bin`);
    writeFileSync(inputPath, fixture.input);
    const requestPath = join(dir, `${name}.request.json`);
    const { arch, width, numClasses, tensorMultiplier } = fixture.spec;
    writeFileSync(requestPath, JSON.stringify({
      weights: weightsPath, model: arch, width, num_classes: numClasses, tensor_multiplier: tensorMultiplier,
      input: inputPath, input_shape: fixture.inputShape,
    }));
    return { name, fixture, requestPath };
  });
  const results = JSON.parse(runPythonFile(RUN_TWIN, requests.map((r) => r.requestPath))) as { logits: number[][] }[];
  return new Map(requests.map((r, i) => [r.name, { fixture: r.fixture, logits: results[i].logits.flat() }]));
}

describe('export round trip through PyTorch (strict load_state_dict)', { skip: SKIP_NO_TORCH || referenceFixturesMissing }, () => {
  let dir = '';
  let torchResults = new Map<string, { fixture: Fixture; logits: number[] }>();
  before(async () => {
    await initBackend();
    dir = mkdtempSync(join(tmpdir(), 'mnext-export-torch-'));
    torchResults = exportAndRunInTorch(dir);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  for (const name of REFERENCES) {
    it(`${name}: the twin's model strict-loads the export and gives the fixture logits`, () => {
      const { fixture, logits } = torchResults.get(name)!;
      assert.ok(maxAbsDiff(logits, fixture.logits.flat()) <= 1e-4, `max |Δ| ${maxAbsDiff(logits, fixture.logits.flat())}`);
    });
  }

  it('PyTorch gives the same logits as mnext on exported weights', () => {
    const { fixture, logits } = torchResults.get('mnext_050_64_c10')!;
    const model = new TfjsModel(buildGraph(fixture.spec), fixture.weights);
    const ours = tf.tidy(() => model.forward(nchwToNhwc(fixture.input, [...fixture.inputShape]), { training: false }).logits.dataSync() as Float32Array);
    model.dispose();
    assert.ok(maxAbsDiff(ours, logits) <= 1e-3);
  });

  it('python\'s zipfile accepts the archive (CRCs) and torch.load sees float32 / int64 tensors', () => {
    const graph = createModelGraph('mobilenetv2', { width: 0.35, numClasses: 3, inputSize: 32 });
    const path = join(dir, 'mbv2.pth');
    saveTorchStateDict(path, graph, initStateDict(graph, 1));
    const out = runTorchPython(`import sys, zipfile, torch
z = zipfile.ZipFile(sys.argv[1]); assert z.testzip() is None
sd = torch.load(sys.argv[1])
print(sorted({str(v.dtype) for v in sd.values()}), len(sd), all(v.is_contiguous() for v in sd.values()))`, [path]);
    const batchNorms = graph.nodes.filter((n) => n.op === 'batchnorm').length;
    assert.equal(out.trim(), `['torch.float32', 'torch.int64'] ${graph.params.length + batchNorms} True`);
    assert.ok(readFileSync(path).length > 0);
  });
});
