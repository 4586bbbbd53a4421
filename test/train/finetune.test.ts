import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { parse } from 'yaml';
import { InputError, UsageError } from '../../src/errors.js';
import { loadCheckpoint, saveCheckpoint } from '../../src/io/checkpoint.js';
import { saveTorchStateDict } from '../../src/io/torch/save.js';
import type { StateDict } from '../../src/models/state-dict.js';
import { buildGraph, createModelGraph } from '../../src/models/registry.js';
import { initStateDict } from '../../src/models/weights.js';
import { resolveConfig } from '../../src/train/config.js';
import { train } from '../../src/train/engine.js';
import { runCli, tempDir } from '../helpers.js';
import { TINY_RUN, tinyDataset } from './tiny.js';

const dataset = tinyDataset();

const CLASSIFIER = ['classifier.1.weight', 'classifier.1.bias'];
const isClassifier = (name: string) => CLASSIFIER.includes(name);

/** Two epochs of the tiny run, no EMA. */
function tinyConfig(output: string, extra: Record<string, string> = {}) {
  return resolveConfig({ flags: { data: dataset(), output, ...TINY_RUN, epochs: '2', ...extra } });
}

/** The first epoch at LR 0 (warmup from 0): the weights it saves are the ones training started from. */
const ZERO_LR_FIRST_EPOCH = { warmup_epochs: '1', warmup_lr: '0', epochs: '2' };

/** A checkpoint folder of MobileNeXt-0.35 with `classes` classes: weights from seed 7, EMA weights from seed 8. */
function sourceCheckpoint(classes: number): { dir: string; weights: StateDict; ema: StateDict } {
  const spec = createModelGraph('mobilenext_035', { numClasses: classes, inputSize: 32 }).spec;
  const [weights, ema] = [7, 8].map((seed) => initStateDict(buildGraph(spec), seed));
  const dir = join(tempDir(), 'pretrained');
  saveCheckpoint(dir, { spec, weights, emaWeights: ema });
  return { dir, weights, ema };
}

function assertSame(actual: StateDict, expected: StateDict, keys: (name: string) => boolean, what: string): void {
  const names = [...expected.keys()].filter(keys);
  assert.ok(names.length > 0);
  for (const name of names) assert.deepEqual(actual.get(name)!.data, expected.get(name)!.data, `${what}: ${name}`);
}

test('a run from its own checkpoint starts from those weights: with the backbone frozen, the first eval equals the checkpoint\'s', async () => {
  const source = await train(tinyConfig(tempDir(), { epochs: '1' }));
  const frozen = await train(tinyConfig(tempDir(), { ...ZERO_LR_FIRST_EPOCH, initial_checkpoint: source.lastDir, freeze_backbone: 'true' }), { stopAfterEpochs: 1 });
  assert.equal(frozen.rows[0].lr, 0);
  assert.equal(frozen.rows[0].eval_loss, source.rows[0].eval_loss);
  assert.equal(frozen.rows[0].eval_top1, source.rows[0].eval_top1);
  const start = loadCheckpoint(source.lastDir).weights;
  assertSame(loadCheckpoint(frozen.lastDir).weights, start, () => true, 'frozen, LR 0');
  // Unfrozen, the trainable weights still start there; the BN running statistics move with the first batches.
  const tuned = await train(tinyConfig(tempDir(), { ...ZERO_LR_FIRST_EPOCH, initial_checkpoint: source.lastDir }), { stopAfterEpochs: 1 });
  const after = loadCheckpoint(tuned.lastDir).weights;
  assertSame(after, start, (name) => !name.includes('running_'), 'trainable, LR 0');
  assert.ok(!after.get('features.0.1.running_mean')!.data.every((v, i) => v === start.get('features.0.1.running_mean')!.data[i]));
  assert.deepEqual(readdirSync(tuned.runDir).sort(), ['args.yaml', 'best', 'classes.txt', 'curves.png', 'last', 'summary.csv']);
  const args = parse(readFileSync(join(tuned.runDir, 'args.yaml'), 'utf8')) as Record<string, unknown>;
  assert.equal(args.initial_checkpoint, resolve(source.lastDir), 'args.yaml records where the run started from');
  assert.equal(args.freeze_backbone, false);
});

test('another class count re-initialises the classifier (and says so); --use-ema starts from the EMA weights', async () => {
  const pretrained = sourceCheckpoint(4);
  const logged: string[] = [];
  const run = await train(
    tinyConfig(tempDir(), { ...ZERO_LR_FIRST_EPOCH, initial_checkpoint: pretrained.dir, use_ema: 'true' }),
    { stopAfterEpochs: 1, events: { log: (m) => logged.push(m) } },
  );
  assert.ok(logged.includes(`initial weights: ${resolve(pretrained.dir)} (EMA)`), logged.join('\n'));
  assert.ok(logged.includes('classifier re-initialised: 4 → 3 classes'), logged.join('\n'));
  const saved = loadCheckpoint(run.lastDir);
  assert.equal(saved.spec.numClasses, 3);
  assertSame(saved.weights, pretrained.ema, (name) => !isClassifier(name) && !name.includes('running_'), 'backbone from the EMA');
  assertSame(saved.weights, initStateDict(buildGraph(saved.spec), 42), isClassifier, 'classifier as the run\'s own init makes it');
  const args = parse(readFileSync(join(run.runDir, 'args.yaml'), 'utf8')) as Record<string, unknown>;
  assert.deepEqual([args.initial_checkpoint, args.use_ema, args.freeze_backbone], [resolve(pretrained.dir), true, false]);
});

test('a classifier for other class names is re-initialised too; the same names keep it', async () => {
  const named = sourceCheckpoint(3);
  const spec = loadCheckpoint(named.dir).spec;
  saveCheckpoint(named.dir, { spec, weights: named.weights, classes: ['0-sandal', '1-shirt', '2-bag'] });
  const logged: string[] = [];
  const run = await train(tinyConfig(tempDir(), { ...ZERO_LR_FIRST_EPOCH, initial_checkpoint: named.dir }), { stopAfterEpochs: 1, events: { log: (m) => logged.push(m) } });
  assert.ok(logged.includes('classifier re-initialised: 3 → 3 classes (the checkpoint\'s are 0-sandal, 1-shirt, 2-bag)'), logged.join('\n'));
  assertSame(loadCheckpoint(run.lastDir).weights, initStateDict(buildGraph(spec), 42), isClassifier, 'classifier re-initialised');
  const classes = readFileSync(join(run.runDir, 'classes.txt'), 'utf8').trim().split('\n');
  saveCheckpoint(named.dir, { spec, weights: named.weights, classes });
  const kept = await train(tinyConfig(tempDir(), { ...ZERO_LR_FIRST_EPOCH, initial_checkpoint: named.dir }), { stopAfterEpochs: 1 });
  assertSame(loadCheckpoint(kept.lastDir).weights, named.weights, isClassifier, 'classifier kept');
});

test('mnext train --initial-checkpoint reads .pth and .pth.tar files', async () => {
  const pretrained = sourceCheckpoint(4);
  for (const name of ['pretrained.pth', 'pretrained.pth.tar']) {
    const file = join(tempDir(), name);
    saveTorchStateDict(file, createModelGraph('mobilenext_035', { numClasses: 4, inputSize: 32 }), pretrained.weights);
    const output = tempDir();
    const cli = await runCli('train', '--data', dataset(), '--output', output, '--model', 'mobilenext_035', '--img-size', '32', '--batch-size', '6',
      '--epochs', '2', '--sched', 'cosine', '--warmup-epochs', '1', '--warmup-lr', '0', '--color-jitter', '0', '--backend', 'wasm',
      '--initial-checkpoint', file, '--no-progress', '--json');
    assert.equal(cli.code, 0, cli.stderr);
    assert.match(cli.stderr, /classifier re-initialised: 4 → 3 classes/);
    const { runDir } = JSON.parse(cli.stdout) as { runDir: string };
    assert.deepEqual(readdirSync(runDir).sort(), ['args.yaml', 'best', 'classes.txt', 'curves.png', 'last', 'summary.csv']);
    const first = loadCheckpoint(join(runDir, 'best'));
    assert.equal(first.info?.epoch, 0, 'the LR-0 epoch is the best one here');
    assertSame(first.weights, pretrained.weights, (n) => !isClassifier(n) && !n.includes('running_'), name);
  }
});

test('--freeze-backbone trains the classifier only: backbone weights and BN statistics stay bit-identical, no slots for them', async () => {
  const pretrained = sourceCheckpoint(4);
  for (const replicas of ['1', '2']) {
    const run = await train(tinyConfig(tempDir(), { initial_checkpoint: pretrained.dir, freeze_backbone: 'true', model_ema: 'true', model_ema_decay: '0.9', replicas }));
    assert.equal(run.rows.length, 2);
    const saved = loadCheckpoint(run.lastDir);
    assertSame(saved.weights, pretrained.weights, (name) => !isClassifier(name), `backbone, ${replicas} replica(s)`);
    assertSame(saved.emaWeights!, pretrained.weights, (name) => !isClassifier(name), `EMA backbone, ${replicas} replica(s)`);
    const fresh = initStateDict(buildGraph(saved.spec), 42);
    for (const name of CLASSIFIER) assert.notDeepEqual(saved.weights.get(name)!.data, fresh.get(name)!.data, `${name} trained`);
    assert.deepEqual([...saved.extraWeights!.optimizer.keys()].sort(), ['momentum_buffer/classifier.1.bias', 'momentum_buffer/classifier.1.weight', 'step']);
    assert.match(readFileSync(join(run.runDir, 'args.yaml'), 'utf8'), /freeze_backbone: true/);
    // A frozen run resumes exactly: its checkpoints hold the classifier's slots only, and the backbone stays frozen.
    const first = await train(tinyConfig(tempDir(), { initial_checkpoint: pretrained.dir, freeze_backbone: 'true', model_ema: 'true', model_ema_decay: '0.9', replicas }), { stopAfterEpochs: 1 });
    const resumed = await train(resolveConfig({ flags: { resume: first.runDir } }));
    assertSame(loadCheckpoint(resumed.lastDir).weights, saved.weights, () => true, `resumed, ${replicas} replica(s)`);
  }
});

test('weights that do not fit the model are exit 2 listing the keys, before a run folder exists', async () => {
  const pretrained = sourceCheckpoint(3);
  const output = tempDir();
  await assert.rejects(train(tinyConfig(output, { model: 'mobilenext_050', initial_checkpoint: pretrained.dir })), (error: unknown) => {
    assert.ok(error instanceof InputError, String(error));
    assert.match(error.message, /^the weights of .*pretrained do not match mobilenext width 0.5 with 3 classes: wrong shape \(305\): features\.1\.conv\.5\.weight \[32,8,1,1\] vs model \[48,8,1,1\], /);
    return true;
  });
  const damaged = new Map(pretrained.weights);
  damaged.delete('features.1.conv.0.weight');
  damaged.set('extra.weight', { shape: [1], data: new Float32Array(1) });
  const spec = loadCheckpoint(pretrained.dir).spec;
  saveCheckpoint(pretrained.dir, { spec, weights: damaged });
  const cli = await runCli('train', '--data', dataset(), '--output', output, '--model', 'mobilenext_035', '--img-size', '32', '--batch-size', '6',
    '--initial-checkpoint', pretrained.dir, '--no-progress');
  assert.equal(cli.code, 2);
  assert.match(cli.stderr, /missing \(1\): features\.1\.conv\.0\.weight\. unexpected \(1\): extra\.weight\./);
  assert.deepEqual(readdirSync(output), [], 'no run folder');
  saveCheckpoint(pretrained.dir, { spec: { ...spec, tensorMultiplier: 2 }, weights: pretrained.weights });
  await assert.rejects(train(tinyConfig(output, { initial_checkpoint: pretrained.dir })), /initial_checkpoint: .* has tensor_multiplier 2, the run's model 1/);
  await assert.rejects(train(tinyConfig(output, { initial_checkpoint: join(output, 'nothing.pth') })), (error: unknown) => error instanceof UsageError && /does not exist/.test(error.message));
  saveCheckpoint(pretrained.dir, { spec, weights: pretrained.weights });
  await assert.rejects(train(tinyConfig(output, { initial_checkpoint: pretrained.dir, use_ema: 'true' })), /has no EMA weights/);
  assert.deepEqual(readdirSync(output), []);
});
