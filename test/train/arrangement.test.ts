import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { parse } from 'yaml';
import { defaultThreads, initBackend } from '../../src/backend/index.js';
import { generateSyntheticDataset } from '../../src/data/synthetic.js';
import { createModelGraph } from '../../src/models/registry.js';
import { arrangementCandidates, fastestArrangement } from '../../src/train/arrangement.js';
import { runCli, tempDir } from '../helpers.js';
import { TINY_RUN } from './tiny.js';

let data = '';

/**
 * 33 training images, one batch of 32 per epoch: at 32 px MobileNeXt's last feature maps are 1x1, and a replica
 * per core is a candidate only when every shard gives its batch norms 16 values.
 */
before(async () => {
  await initBackend('wasm');
  data = join(tempDir(), 'synthetic');
  await generateSyntheticDataset(data, { classes: 3, perClass: 11, size: 32, seed: 1, valFraction: 0.5 });
});
const PROBE_LINE = /^mnext train: \d+ replicas? × \d+ threads? \(fastest of (.*)\)$/m;

/** `mnext train` on the dataset for one epoch (TINY_RUN's keys as flags, batches of 32), then `extra`. */
function trainCli(output: string, ...extra: string[]) {
  const flags = Object.entries({ ...TINY_RUN, batch_size: '32', backend: 'wasm', epochs: '1' }).flatMap(([key, value]) => [`--${key.replace(/_/g, '-')}`, value]);
  return runCli('train', '--data', data, '--output', output, ...flags, '--no-progress', '--json', ...extra);
}

interface CliRun {
  runDir: string;
  arrangement: { replicas: number; threads: number; probed: { replicas: number; threads: number; msPerStep: number; steps: number }[] };
}

const argsOf = (runDir: string) => parse(readFileSync(join(runDir, 'args.yaml'), 'utf8')) as Record<string, unknown>;

test('the probe times one engine on every core against a single-threaded replica per core, and frees what it made', async () => {
  const graph = createModelGraph('mobilenext_035', { numClasses: 3, inputSize: 32 });
  const workload = { graph, batch: 32, optimizer: { opt: 'sgd', momentum: 0.9, weightDecay: 1e-4, eps: 1e-8 }, smoothing: 0.1, backend: 'wasm' } as const;
  const before = tf.memory().numTensors;
  const picked = await fastestArrangement(workload);
  assert.equal(tf.memory().numTensors, before, 'no tensor left behind');
  const cores = defaultThreads();
  assert.deepEqual(picked.probed.map(({ replicas, threads }) => ({ replicas, threads })),
    cores > 1 ? [{ replicas: 1, threads: cores }, { replicas: cores, threads: 1 }] : []);
  // Every candidate timed for its 1.5 s and 3 steps, in turns; the pick is the lowest median.
  for (const p of picked.probed) assert.ok(p.steps >= 3 && p.steps * p.msPerStep > 0, JSON.stringify(p));
  const fastest = picked.probed.reduce((a, b) => (b.msPerStep < a.msPerStep ? b : a), picked.probed[0] ?? { ...picked, msPerStep: 0 });
  assert.deepEqual({ replicas: picked.replicas, threads: picked.threads }, { replicas: fastest.replicas, threads: fastest.threads });
});

test('replicas are a candidate only when every shard gives the batch norms 16 values on the smallest map', () => {
  const cores = defaultThreads();
  const candidates = (model: string, inputSize: number, batch: number) => arrangementCandidates({ graph: createModelGraph(model, { numClasses: 3, inputSize }), batch }).length;
  // MobileNeXt's smallest maps are 1/32 of the input: 1x1 at 32 px, 7x7 at 224 px.
  assert.equal(candidates('mobilenext_035', 32, 16 * cores), cores > 1 ? 2 : 1);
  assert.equal(candidates('mobilenext_035', 32, 16 * cores - 1), 1);
  assert.equal(candidates('mobilenext_035', 224, cores), cores > 1 ? 2 : 1);
  assert.equal(candidates('mobilenext_035', 224, cores - 1), 1);
});

test('mnext train with neither --replicas nor --threads picks the fastest arrangement, says so, records it; --resume keeps it without probing', async () => {
  const output = tempDir();
  const cli = await trainCli(output);
  assert.equal(cli.code, 0, cli.stderr);
  const run = JSON.parse(cli.stdout) as CliRun;
  const { replicas, threads, probed } = run.arrangement;
  assert.match(cli.stderr, /^mnext train: mobilenext_035 on .*, backend wasm, the fastest arrangement$/m);
  if (defaultThreads() > 1) {
    const line = PROBE_LINE.exec(cli.stderr);
    assert.ok(line, cli.stderr);
    assert.equal(probed.length, 2);
    assert.equal(line[0].split(' (')[0], `mnext train: ${replicas} replica${replicas === 1 ? '' : 's'} × ${threads} thread${threads === 1 ? '' : 's'}`);
    assert.deepEqual([replicas, threads], (({ replicas: r, threads: t }) => [r, t])(probed.reduce((a, b) => (b.msPerStep < a.msPerStep ? b : a))));
  }
  const args = argsOf(run.runDir);
  assert.deepEqual([args.replicas, args.threads], [replicas, threads], 'args.yaml records the arrangement as if it had been given');

  const resumed = await runCli('train', '--resume', run.runDir, '--epochs', '2', '--no-progress', '--json');
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.doesNotMatch(resumed.stderr, /fastest/, 'a resumed run does not probe');
  const engines = replicas === 1 ? '1 replica \\(main thread\\)' : `${replicas} replicas \\(worker threads\\)`;
  assert.match(resumed.stderr, new RegExp(`^mnext train: .*, backend wasm, ${engines}, ${threads} threads?`, 'm'));
  const again = JSON.parse(resumed.stdout) as CliRun;
  assert.deepEqual(again.arrangement, { replicas, threads, probed: [] });
  assert.deepEqual([argsOf(run.runDir).replicas, argsOf(run.runDir).threads, argsOf(run.runDir).epochs], [replicas, threads, 2]);
});

test('--threads, --replicas or either key in the YAML pins the arrangement: no probe, args.yaml as given', async () => {
  const yaml = join(tempDir(), 'pinned.yaml');
  writeFileSync(yaml, 'replicas: 1\n');
  for (const [pin, recorded] of [[['--threads', '1'], [1, 1]], [['--replicas', '2'], [2, 0]], [['--config', yaml], [1, 0]]] as const) {
    const cli = await trainCli(tempDir(), ...pin);
    assert.equal(cli.code, 0, cli.stderr);
    assert.doesNotMatch(cli.stderr, /fastest/, pin.join(' '));
    const run = JSON.parse(cli.stdout) as CliRun;
    assert.deepEqual(run.arrangement.probed, []);
    assert.equal(run.arrangement.replicas, recorded[0]);
    assert.deepEqual([argsOf(run.runDir).replicas, argsOf(run.runDir).threads], recorded, pin.join(' '));
  }
});
