import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../src/backend/index.js';
import { describeModels } from '../../src/models/listing.js';
import { runParity } from '../../src/eval/parity.js';
import { loadCheckpoint } from '../../src/io/checkpoint.js';
import { loadFixture } from '../../src/io/fixture.js';
import { GraphBuilder, pytorchDefaultInit } from '../../src/models/builder.js';
import { type EfficientMnextVariant, MNEXT_L, efficientBlockConfigs, efficientMnext, staticSamePadding } from '../../src/models/efficient-mnext.js';
import { TfjsModel } from '../../src/models/executor.js';
import { type ConvNode, INPUT_ID, type ModelGraph } from '../../src/models/graph.js';
import { createModelGraph, resolveModelSpec } from '../../src/models/registry.js';
import { initStateDict } from '../../src/models/weights.js';
import { countModel } from '../../src/models/count.js';
import { resolveConfig } from '../../src/train/config.js';
import { computeGradients, disposeGradientResult } from '../../src/train/step.js';
import { Rng } from '../../src/util/random.js';
import { runCli, tempDir } from '../helpers.js';
import { referenceFixture, referenceFixturesMissing } from '../reference-fixtures.js';

const TOLERANCE = 1e-3;
const CONFIGS = join(import.meta.dirname, '..', '..', 'configs');

const convs = (graph: ModelGraph): ConvNode[] => graph.nodes.filter((n): n is ConvNode => n.op === 'conv');

describe('mnext_s / mnext_l descriptions', () => {
  test('params, conv+linear MAdds and state_dict size match spec §2 / §3.1', () => {
    const cases: [string, number, number, number, number][] = [
      // name, input, params, MAdds, state_dict entries without num_batches_tracked
      ['mnext_s', 224, 3_937_011, 330_182_144, 441],
      ['mnext_l', 224, 4_287_498, 415_057_856, 633],
      ['mnext_l', 240, 4_287_498, 464_077_600, 633],
    ];
    for (const [name, inputSize, params, madds, entries] of cases) {
      const graph = createModelGraph(name, { inputSize });
      const stats = countModel(graph);
      assert.equal(stats.params, params, `${name} params`);
      assert.equal(stats.madds, madds, `${name}@${inputSize} MAdds`);
      assert.equal((stats.madds / 1e6).toFixed(2), { 330182144: '330.18', 415057856: '415.06', 464077600: '464.08' }[madds]);
      assert.equal(graph.params.length, entries, `${name} state_dict entries`);
      assert.deepEqual(graph.unusedParams, ['_bn1.weight', '_bn1.bias', '_bn1.running_mean', '_bn1.running_var']);
    }
  });

  test('mnext profile --per-block: the spec §1.3 layer table of mnext_s (params and spatial size per block)', async () => {
    const run = await runCli('profile', '--models', 'mnext_s,mnext_l', '--no-latency', '--per-block', '--json');
    assert.equal(run.code, 0, run.stderr);
    const rows = JSON.parse(run.stdout) as { model: string; params: number; madds: number; blocks: { block: string; params: number; outputShape: number[] }[] }[];
    assert.deepEqual(rows.map((r) => [r.model, r.params, r.madds]), [['mnext_s', 3_937_011, 330_182_144], ['mnext_l', 4_287_498, 415_057_856]]);
    const perBlock = [928, 6092, 7622, 16952, 26376, 26376, 26380, 41868, 41868, 45808, 83472, 83472, 83472, 106520,
      171288, 171288, 171288, 227368, 408360, 408360, 498293, 1_281_000];
    const spatial = [112, 112, 56, 28, 28, 28, 14, 14, 14, 14, 14, 14, 14, 7, 7, 7, 7, 7, 7, 7, 7];
    const s = rows[0].blocks;
    assert.deepEqual(s.map((b) => b.block), ['stem', ...Array.from({ length: 20 }, (_, i) => `_blocks.${i}`), 'head']);
    assert.deepEqual(s.map((b) => b.params), perBlock);
    assert.deepEqual(s.slice(0, -1).map((b) => b.outputShape[0]), spatial);
    assert.equal(rows[0].params - perBlock.reduce((a, b) => a + b, 0), 2560, 'the unused _bn1 is counted in the total only');
    assert.equal(rows[1].blocks.length, 30);
  });

  // The twin's mnext_s, which writes the fixture, has the official state_dict's names and order (checked against the
  // official fixture with scripts/torch_reference.py check).
  test('parameter names and order are the PyTorch state_dict (mnext_s fixture)', { skip: referenceFixturesMissing }, () => {
    const meta = JSON.parse(readFileSync(referenceFixture('mnext_s_224'), 'utf8')) as { tensors: { name: string; shape: number[] }[] };
    const graph = createModelGraph('mnext_s');
    assert.deepEqual(graph.params.map((p) => [p.name, p.shape]), meta.tensors.map((t) => [t.name, t.shape]));
  });

  test('mnext_l: 28 blocks, grouped 1x1 convs only in type A and D blocks, h = 214 in the last block', () => {
    const graph = createModelGraph('mnext_l');
    const shapeOf = (name: string) => graph.params.find((p) => p.name === name)?.shape;
    assert.equal(new Set(graph.nodes.map((n) => n.block).filter((b) => b.startsWith('_blocks.'))).size, 28);
    assert.deepEqual(shapeOf('_blocks.0.features.3.weight'), [16, 16, 1, 1]); // A: 32 -> 16, groups 2
    assert.deepEqual(shapeOf('_blocks.1.features.5.weight'), [96, 24, 1, 1]); // A: 48 -> 96, groups 2
    assert.deepEqual(shapeOf('_blocks.2.features.0.weight'), [16, 96, 1, 1]); // C: plain 1x1
    assert.deepEqual(shapeOf('_blocks.27.features.3.weight'), [214, 640, 1, 1]); // D 1280: h = 214
    assert.deepEqual(shapeOf('_blocks.27._se_reduce.weight'), [53, 1280, 1, 1]);
    const grouped = convs(graph).filter((c) => c.groups === 2).map((c) => c.param);
    assert.ok(grouped.every((p) => /\.features\.[35]$/.test(p)));
    assert.equal(grouped.length, 2 * (2 + 19)); // 2 A blocks + 19 D blocks, two 1x1 each
  });

  test('TF static "same" padding from the nominal size; 240 and 224 pad alike (both even)', () => {
    assert.deepEqual(staticSamePadding(224, 3, 2), [0, 1, 0, 1]);
    assert.deepEqual(staticSamePadding(224, 5, 2), [1, 2, 1, 2]);
    assert.deepEqual(staticSamePadding(240, 5, 1), [2, 2, 2, 2]);
    assert.deepEqual(staticSamePadding(15, 5, 2), [2, 2, 2, 2]); // what dynamic SAME would use on a 15x15 map
    const l = createModelGraph('mnext_l', { inputSize: 240 });
    for (const conv of convs(l)) {
      const [k, s] = [conv.kernel[0], conv.stride];
      assert.deepEqual(conv.pad, staticSamePadding(224, k, s), `${conv.param} pads as for any even nominal size`);
    }
    // At a real 240 input the 576-stage stride-2 5x5 conv sees 15x15 yet keeps the nominal (1, 2) padding: 7x7
    // out, not dynamic SAME's 8x8 — the official 464.08 M MAdds at 240 depend on it.
    const stage6 = convs(l).find((c) => c.stride === 2 && c.kernel[0] === 5 && c.outChannels === 576)!;
    assert.deepEqual(stage6.pad, [1, 2, 1, 2]);
    assert.deepEqual(stage6.shape, [7, 7, 576]);
  });

  test('drop-connect 0.2·i/N on residual (type D, stride 1) branches only, before the add', () => {
    const graph = createModelGraph('mnext_s');
    const drops = graph.nodes.filter((n) => n.op === 'dropPath');
    const residualBlocks = [3, 4, 6, 7, 9, 10, 11, 13, 14, 15, 17, 18];
    assert.deepEqual(drops.map((d) => d.block), residualBlocks.map((i) => `_blocks.${i}`));
    for (const d of drops) {
      const i = Number(d.block.split('.')[1]);
      assert.ok(d.op === 'dropPath' && Math.abs(d.rate - (0.2 * i) / 20) < 1e-12);
      const add = graph.nodes.find((n) => n.op === 'add' && n.inputs[0] === d.id);
      assert.ok(add, `${d.id} feeds the residual add`);
    }
    assert.deepEqual(efficientBlockConfigs(MNEXT_L, 0.2).map((c) => c.dropConnectRate).slice(0, 3), [0, 0.2 / 28, 0.4 / 28]);
    assert.equal(createModelGraph('mnext_s', { dropConnectRate: 0 }).nodes.filter((n) => n.op === 'dropPath').length, 0);
  });

  test('names, aliases, --num-classes honoured, fixed width; mnext models mentions the difference', () => {
    for (const alias of ['i2rnet-b0', 'i2rnet_b0', 'efficienti2rnet_b0', 'MNEXT_S']) assert.equal(resolveModelSpec(alias).arch, 'mnext_s');
    for (const alias of ['i2rnet-b1', 'i2rnet_b1', 'efficienti2rnet_b1']) assert.equal(resolveModelSpec(alias).arch, 'mnext_l');
    const spec = resolveModelSpec('mnext_l');
    assert.equal(spec.dropRate, 0.2);
    assert.equal(spec.dropConnectRate, 0.2);
    const ten = createModelGraph('mnext_s', { numClasses: 10 });
    assert.deepEqual(ten.params.find((p) => p.name === '_fc.weight')?.shape, [10, 1280]);
    assert.throws(() => resolveModelSpec('mnext_s', { width: 0.5 }), /fixed width/);
    const listed = describeModels().filter((m) => m.arch.startsWith('mnext_'));
    assert.deepEqual(listed.map((m) => [m.name, m.params]), [['mnext_s', 3_937_011], ['mnext_l', 4_287_498]]);
    assert.ok(listed.every((m) => m.description.includes('--num-classes honoured')));
  });
});

for (const backend of ['wasm', 'cpu']) {
  describe(`mnext_s parity with the PyTorch model on ${backend}`, () => {
    test('eval-mode and folded forward passes match the fixture logits', { skip: referenceFixturesMissing }, async () => {
      assert.equal(await initBackend(backend), backend);
      const before = tf.memory().numTensors;
      const result = runParity(loadFixture(referenceFixture('mnext_s_224')));
      assert.ok(result.maxAbsDiff <= TOLERANCE, `eval forward max |Δ| ${result.maxAbsDiff}`);
      assert.ok(result.foldedMaxAbsDiff <= TOLERANCE, `folded forward max |Δ| ${result.foldedMaxAbsDiff}`);
      assert.ok(result.argmaxAgree);
      assert.equal(tf.memory().numTensors, before, 'no tensors leaked');
    });
  });
}

describe('mnext_l against the PyTorch twin\'s definition (random weights)', { skip: referenceFixturesMissing }, () => {
  // 224 (how it was trained, with padding for 240) and 240 (an odd 15x15 map before the stage-6 stride-2 conv).
  for (const name of ['mnext_l_224', 'mnext_l_240_c10'] as const) {
    test(`${name}: eval and folded logits agree`, async () => {
      await initBackend('wasm');
      const result = runParity(loadFixture(referenceFixture(name)));
      assert.ok(result.maxAbsDiff <= TOLERANCE && result.foldedMaxAbsDiff <= TOLERANCE, JSON.stringify(result));
      assert.ok(result.argmaxAgree);
      assert.ok(result.logitScale > 0.05, 'logits are not trivially small');
    });
  }

  // Grouped 1x1 convs, SE (mean, 1x1, swish, 1x1, sigmoid, mul) and swish in the deployment formats, each run
  // back in its own runtime (onnxruntime, LiteRT) and compared with the tfjs forward pass by `mnext convert`.
  for (const target of ['onnx', 'tflite']) {
    test(`mnext_l (240, grouped convs) converts to ${target} and verifies in its runtime`, async () => {
      const out = join(tempDir(), `mnext_l.${target}`);
      const run = await runCli('convert', '--model', referenceFixture('mnext_l_240_c10'), '--to', target, '--out', out, '--json');
      assert.equal(run.code, 0, run.stderr);
      const report = JSON.parse(run.stdout) as { arch: string; numClasses: number; verification: { runtime: string; relativeDiff: number; top1Agreement: number } };
      assert.deepEqual([report.arch, report.numClasses, report.verification.runtime], ['mnext_l', 10, target]);
      assert.ok(report.verification.relativeDiff < 1e-4 && report.verification.top1Agreement === 1, JSON.stringify(report.verification));
    });
  }
});

/** A tiny model: input -> dropPath(rate) -> mean -> linear, to read the per-sample drop-connect mask directly. */
function dropPathProbe(rate: number): ModelGraph {
  const spec = { ...resolveModelSpec('mnext_s', { numClasses: 3, inputSize: 4 }), arch: 'probe' };
  const b = new GraphBuilder(spec, { bnEps: 1e-3, bnMomentum: 0.01, init: pytorchDefaultInit });
  const x = b.globalAvgPool(b.dropPath(INPUT_ID, rate), false);
  return b.finish(b.linear(x, 'fc', 3));
}

describe('training: drop-connect and SE', () => {
  test('drop-connect keeps or drops whole samples and rescales by 1/keep; eval is the identity', async () => {
    await initBackend('cpu');
    const graph = dropPathProbe(0.5);
    const weights = initStateDict(graph, 1);
    weights.set('fc.weight', { shape: [3, 3], data: Float32Array.from([1, 0, 0, 0, 1, 0, 0, 0, 1]) });
    weights.set('fc.bias', { shape: [3], data: new Float32Array(3) });
    const model = new TfjsModel(graph, weights);
    const x = tf.ones([64, 4, 4, 3]) as tf.Tensor4D;
    const train = tf.tidy(() => model.forward(x, { training: true, seed: 3 }).logits.arraySync());
    const evalRows = tf.tidy(() => model.forward(x, { training: false }).logits.arraySync());
    const kept = train.filter((row) => row.every((v) => Math.abs(v - 2) < 1e-6)).length;
    const dropped = train.filter((row) => row.every((v) => v === 0)).length;
    assert.equal(kept + dropped, 64, 'each sample is either kept (x / keep) or dropped whole');
    assert.ok(kept > 16 && dropped > 16, `about half dropped: kept ${kept}`);
    assert.ok(evalRows.every((row) => row.every((v) => v === 1)));
    x.dispose();
    model.dispose();
  });

  /**
   * A small member of the family (same block code, own stage table) covering every block type, 5x5 and 3x3
   * depthwise, grouped 1x1 convs, SE and drop-connect, at 32x32 so BN batch statistics are well conditioned
   * (8x8 maps); the full models at tiny inputs have 1x1 maps whose 2-sample BN makes gradients chaotic.
   */
  const TINY: EfficientMnextVariant = {
    stages: [[3, 2, 1, 48, 1], [5, 6, 2, 64, 3], [3, 6, 1, 96, 2]], depth: 1, nominalImageSize: 32, groups1x1: 2,
  };

  /** Gradients of the label-smoothed loss with strong drop-connect (training engine path), keyed by name. */
  async function gradientsOn(backend: string): Promise<Map<string, Float32Array>> {
    await initBackend(backend);
    const graph = efficientMnext(TINY, resolveModelSpec('mnext_l', { inputSize: 32, numClasses: 5, dropConnectRate: 0.6 }));
    const model = new TfjsModel(graph, initStateDict(graph, 11));
    const rng = new Rng(5);
    const images = tf.tensor4d(Float32Array.from({ length: 4 * 32 * 32 * 3 }, () => rng.normal()), [4, 32, 32, 3]);
    const targets = tf.tidy(() => tf.cast(tf.oneHot([0, 1, 2, 3], 5), 'float32')) as tf.Tensor2D;
    const before = tf.memory().numTensors;
    const result = computeGradients(model, images, targets, { smoothing: 0.1, seed: 9 });
    const grads = new Map([...result.grads].map(([name, g]) => [name, g.dataSync() as Float32Array]));
    disposeGradientResult(result);
    assert.equal(tf.memory().numTensors, before, `no tensors leaked on ${backend}`);
    images.dispose();
    targets.dispose();
    model.dispose();
    return grads;
  }

  const norm = (a: Float32Array, b?: Float32Array) => Math.sqrt(a.reduce((s, v, i) => s + (v - (b?.[i] ?? 0)) ** 2, 0));

  test('every block type, SE and drop-connect get gradients; wasm agrees with cpu', async () => {
    const graph = efficientMnext(TINY, resolveModelSpec('mnext_l', { inputSize: 32, dropConnectRate: 0.6 }));
    assert.deepEqual(convs(graph).filter((c) => c.groups === 2).length, 2 * 4, 'A + 3 D blocks with grouped 1x1');
    assert.deepEqual(graph.nodes.filter((n) => n.op === 'dropPath').map((n) => n.block), ['_blocks.2', '_blocks.3', '_blocks.5']);
    const cpu = await gradientsOn('cpu');
    const wasm = await gradientsOn('wasm');
    assert.equal(cpu.size, graph.params.filter((p) => p.trainable).length - 2, 'all trainable but the unused _bn1');
    const total = Math.sqrt([...cpu.values()].reduce((s, g) => s + norm(g) ** 2, 0));
    for (const block of [0, 1, 2, 4, 5]) {
      for (const name of [`_blocks.${block}._se_reduce.weight`, `_blocks.${block}._se_expand.bias`, `_blocks.${block}.features.0.weight`]) {
        const g = cpu.get(name)!;
        assert.ok(g.every(Number.isFinite) && norm(g) > 1e-4 * total, `${name} has a gradient`);
      }
    }
    for (const [name, g] of cpu) {
      const w = wasm.get(name);
      assert.ok(w, `${name} has a wasm gradient`);
      // BN biases feeding a linear conv then another BN have a zero true gradient: only rounding noise to compare.
      if (norm(g) < 1e-6 * total) continue;
      assert.ok(norm(g, w) / norm(g) < 1e-3, `${name}: wasm vs cpu relative difference ${norm(g, w) / norm(g)}`);
    }
  });

  test('drop-connect changes the training forward pass of mnext_l (masks per block, per sample)', async () => {
    await initBackend('wasm');
    const logits = (dropConnectRate: number) => tf.tidy(() => {
      const graph = createModelGraph('mnext_l', { inputSize: 64, numClasses: 5, dropConnectRate, dropRate: 0 });
      const model = new TfjsModel(graph, initStateDict(graph, 11));
      const out = model.forward(tf.ones([4, 64, 64, 3]), { training: true, seed: 9 }).logits.dataSync() as Float32Array;
      model.dispose();
      return out;
    });
    assert.notDeepEqual(logits(0.9), logits(0));
  });
});

describe('the official recipes (configs/mnext_efficient_{s,l}.yaml)', () => {
  for (const [config, arch] of [['mnext_efficient_s', 'mnext_s'], ['mnext_efficient_l', 'mnext_l']]) {
    test(`${config}: RMSpropTF recipe of spec §4, and a one-epoch smoke run of mnext train`, async () => {
      const file = join(CONFIGS, `${config}.yaml`);
      const c = resolveConfig({ file });
      assert.deepEqual(
        [c.model, c.opt, c.lr, c.batch_size, c.opt_eps, c.momentum, c.sched, c.decay_epochs, c.decay_rate, c.warmup_epochs, c.warmup_lr],
        [arch, 'rmsproptf', 0.12, 128, 1e-3, 0.9, 'step', 2.4, 0.97, 3, 1e-6]);
      assert.deepEqual([c.weight_decay, c.model_ema, c.model_ema_decay, c.drop, c.drop_connect, c.reprob, c.remode, c.smoothing],
        [1e-5, true, 0.9999, 0.2, 0.2, 0.2, 'const', 0.1]);
      const dir = tempDir();
      const run = await runCli('train', '--config', file, '--data', join(dir, 'synthetic'), '--synthetic', '--synthetic-per-class', '4',
        '--synthetic-size', '36', '--num-classes', '3', '--img-size', '32', '--batch-size', '6', '--epochs', '1', '--workers', '2',
        '--backend', 'wasm', '--output', join(dir, 'out'), '--no-progress', '--json');
      assert.equal(run.code, 0, run.stderr);
      const result = JSON.parse(run.stdout) as { lastDir: string; summary: { train_loss: number }[] };
      assert.ok(Number.isFinite(result.summary[0].train_loss));
      const checkpoint = loadCheckpoint(result.lastDir);
      assert.deepEqual(checkpoint.spec, { arch, width: 1, numClasses: 3, inputSize: 32, tensorMultiplier: 1, dropRate: 0.2, dropConnectRate: 0.2 });
      assert.deepEqual(checkpoint.weights.get('_fc.weight')?.shape, [3, 1280]);
      assert.ok(checkpoint.emaWeights?.has('_bn1.running_var'), 'EMA kept for every state_dict entry');
    });
  }
});
