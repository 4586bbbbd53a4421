import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../src/backend/index.js';
import { saveTorchStateDict } from '../../src/io/torch/save.js';
import { TfjsModel, nchwToNhwc } from '../../src/models/executor.js';
import type { ModelGraph } from '../../src/models/graph.js';
import { createModelGraph, listFamilies, listModelNames, resolveModelSpec } from '../../src/models/registry.js';
import { Rng } from '../../src/util/random.js';
import { livelyWeights } from '../eval/helpers.js';
import { CONVERSION_CASES } from '../formats/cases.js';
import { tempDir } from '../helpers.js';
import { RUN_TWIN, SKIP_NO_TORCH, maxAbsDiff, runPythonFile, runTorchPython } from '../io/torch/python.js';

/**
 * The PyTorch twin (python/mnext_torch) against mnext's model descriptions, family by family: the module tree's
 * state_dict has the description's keys, order and shapes (plus one num_batches_tracked per BatchNorm), the
 * optimiser's weight-decay groups are the description's `decay` flags, and an `mnext export` of the same weights
 * strict-loads into the twin and gives mnext's logits.
 */
type Case = { readonly arch: string; readonly width: number; readonly tensorMultiplier: number };

/** The converters' cases plus a partial identity in the EfficientNet-style blocks. */
const CASES: readonly Case[] = [...CONVERSION_CASES, { arch: 'mnext_l', width: 1.0, tensorMultiplier: 2 }];
const INPUT_SHAPE = [2, 3, 48, 48] as const;
const NUM_CLASSES = 5;

interface TwinResult {
  logits: number[][];
  keys: [string, number[]][];
  decayed: string[];
  plain: string[];
}

const label = (c: Case) => `${c.arch} width ${c.width}, tensor multiplier ${c.tensorMultiplier}`;

function graphOf(c: Case): ModelGraph {
  return createModelGraph(c.arch, { width: c.width, tensorMultiplier: c.tensorMultiplier, numClasses: NUM_CLASSES, inputSize: INPUT_SHAPE[2] });
}

describe('the PyTorch twin\'s models equal mnext\'s descriptions', { skip: SKIP_NO_TORCH }, () => {
  const dir = tempDir('mnext-twin-models-');
  const mnextLogits = new Map<Case, Float32Array>();
  const twin = new Map<Case, TwinResult>();

  before(async () => {
    await initBackend();
    const rng = new Rng(3);
    const input = Float32Array.from({ length: INPUT_SHAPE.reduce((a, b) => a * b, 1) }, () => rng.normal());
    const inputPath = join(dir, 'input.bin');
    writeFileSync(inputPath, input);
    const requests = CASES.map((c, i) => {
      const graph = graphOf(c);
      const weights = livelyWeights(graph, 11 + i);
      const model = new TfjsModel(graph, weights);
      mnextLogits.set(c, tf.tidy(() => model.forward(nchwToNhwc(input, INPUT_SHAPE), { training: false }).logits.dataSync() as Float32Array));
      model.dispose();
      const weightsPath = join(dir, `case${i}.pth`);
      saveTorchStateDict(weightsPath, graph, weights);
      const request = join(dir, `case${i}.json`);
      writeFileSync(request, JSON.stringify({
        weights: weightsPath, model: c.arch, width: c.width, num_classes: NUM_CLASSES, tensor_multiplier: c.tensorMultiplier,
        input: inputPath, input_shape: INPUT_SHAPE,
      }));
      return request;
    });
    const results = JSON.parse(runPythonFile(RUN_TWIN, requests)) as TwinResult[];
    CASES.forEach((c, i) => twin.set(c, results[i]));
  });

  for (const c of CASES) {
    it(`${label(c)}: state_dict keys, order and shapes`, () => {
      const graph = graphOf(c);
      const { keys } = twin.get(c)!;
      const counters = keys.filter(([name]) => name.endsWith('.num_batches_tracked'));
      assert.deepEqual(keys.filter(([name]) => !name.endsWith('.num_batches_tracked')), graph.params.map((p) => [p.name, [...p.shape]]));
      const batchNorms = graph.params.filter((p) => p.name.endsWith('.running_var')).map((p) => p.name.replace(/running_var$/, 'num_batches_tracked'));
      assert.deepEqual(counters.map(([name]) => name), batchNorms);
    });

    it(`${label(c)}: weight decay on the parameters mnext decays, none on BN and biases`, () => {
      const params = graphOf(c).params.filter((p) => p.trainable);
      const { decayed, plain } = twin.get(c)!;
      assert.deepEqual(decayed, params.filter((p) => p.decay).map((p) => p.name));
      assert.deepEqual(plain, params.filter((p) => !p.decay).map((p) => p.name));
    });

    it(`${label(c)}: mnext's export strict-loads into the twin and gives mnext's logits`, () => {
      const ours = mnextLogits.get(c)!;
      const theirs = twin.get(c)!.logits.flat();
      const scale = Math.max(...ours.map(Math.abs));
      assert.ok(scale > 0.1, `logits are not trivially small (${scale})`);
      assert.ok(maxAbsDiff(ours, theirs) <= 1e-4 * scale, `max |Δ| ${maxAbsDiff(ours, theirs)} at logit scale ${scale}`);
    });
  }

  it('the strict loads above cover every registered family', () => {
    assert.deepEqual([...new Set(CASES.map((c) => c.arch))].sort(), listFamilies().map((f) => f.arch).sort());
  });

  it('every registered name and alias resolves to the same family and width', () => {
    const names = [...listModelNames(), ...listFamilies().flatMap((f) => [f.arch, ...f.aliases])];
    const script = `import json, sys
from mnext_torch.models import list_models, resolve_model_name
resolved = [resolve_model_name(n) for n in json.loads(sys.argv[1])]
print(json.dumps({'names': list_models(), 'resolved': [[f.arch, 1.0 if w is None else w] for f, w in resolved]}))`;
    const out = JSON.parse(runTorchPython(script, [JSON.stringify(names)])) as { names: string[]; resolved: [string, number][] };
    assert.deepEqual(out.names, listModelNames());
    assert.deepEqual(out.resolved, names.map((n) => {
      const spec = resolveModelSpec(n);
      return [spec.arch, spec.width];
    }));
  });
});
