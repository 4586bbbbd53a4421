import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultThreads } from '../../src/backend/index.js';
import { execute } from '../../src/cli/main.js';
import type { Output } from '../../src/cli/output.js';

function capture(): Output & { text: () => string } {
  const lines: string[] = [];
  return { out: (s: string) => lines.push(s), err: () => undefined, text: () => lines.join('\n') } as Output & { text: () => string };
}

const KEYS = ['mode', 'model', 'width', 'inputSize', 'batch', 'backend', 'workers', 'threads', 'imgPerSec', 'msPerStep', 'peakRssMb', 'tensorsBefore', 'tensorsAfter', 'tensorsLeaked'];

for (const mode of ['train', 'infer'] as const) {
  test(`mnext bench ${mode} --json prints one object with no leaked tensors`, async () => {
    const output = capture();
    // Inference pinned to one thread: the next test probes, and growing XNNPACK's pool back costs pthread workers
    // of the one wasm engine this process has.
    const code = await execute(['node', 'mnext', 'bench', mode, '--model', 'mobilenext', '--width', '0.35', '--img-size', '32', '-b', '2',
      '--num-classes', '10', '--backend', 'wasm', '--steps', '2', '--warmup', '1', ...(mode === 'infer' ? ['--threads', '1'] : []), '--json'], output);
    assert.equal(code, 0);
    const result = JSON.parse(output.text()) as Record<string, unknown>;
    // Training with neither --replicas nor --threads first probes the arrangements and says which won.
    assert.deepEqual(Object.keys(result), mode === 'train' ? [...KEYS, 'arrangement', 'probed'] : KEYS);
    assert.equal(result.mode, mode);
    assert.ok(Number.isInteger(result.threads) && (result.threads as number) >= 1);
    assert.equal(result.backend, 'wasm');
    assert.equal(result.tensorsLeaked, 0);
    assert.ok((result.imgPerSec as number) > 0 && (result.peakRssMb as number) > 0);
  });
}

test('mnext bench infer without --threads times XNNPACK on every core against one thread, runs the faster and says so', async () => {
  const output = capture();
  const errors: string[] = [];
  output.err = (s: string) => errors.push(s);
  const code = await execute(['node', 'mnext', 'bench', 'infer', '--model', 'mobilenext', '--width', '0.35', '--img-size', '32', '-b', '1',
    '--num-classes', '10', '--backend', 'wasm', '--steps', '5', '--warmup', '1', '--json'], output);
  assert.equal(code, 0, errors.join('\n'));
  const result = JSON.parse(output.text()) as { threads: number; workers: number; tensorsLeaked: number; arrangement: string; probed: { replicas: number; threads: number; msPerStep: number; steps: number }[] };
  assert.deepEqual(Object.keys(result), [...KEYS, 'arrangement', 'probed']);
  assert.equal(result.arrangement, 'fastest of probed');
  assert.equal(result.tensorsLeaked, 0);
  if (defaultThreads() === 1) return assert.deepEqual(result.probed, []);
  assert.deepEqual(result.probed.map(({ replicas, threads }) => [replicas, threads]), [[1, defaultThreads()], [1, 1]]);
  for (const p of result.probed) assert.ok(p.steps >= 3 && p.msPerStep > 0, JSON.stringify(p));
  const fastest = result.probed.reduce((a, b) => (b.msPerStep < a.msPerStep ? b : a));
  assert.equal(result.threads, fastest.threads, 'the bench runs on the thread count that won');
  assert.equal(result.workers, 1);
  assert.match(errors.join('\n'), new RegExp(`^bench infer: 1 replica × ${fastest.threads} threads? \\(fastest of 1 replica × ${defaultThreads()} threads \\d+ ms/step, 1 replica × 1 thread \\d+ ms/step\\)$`, 'm'));
});

test('mnext bench with an unknown backend exits 2 naming the choices', async () => {
  const output = capture();
  const errors: string[] = [];
  output.err = (s: string) => errors.push(s);
  const code = await execute(['node', 'mnext', 'bench', 'train', '--backend', 'webgpu', '--json'], output);
  assert.equal(code, 2);
  assert.match(errors.join('\n'), /tensorflow, wasm, cpu/);
});

test('mnext bench train reports RSS at step 50 and at the end once a run reaches 50 steps', async () => {
  const output = capture();
  const code = await execute(['node', 'mnext', 'bench', 'train', '--model', 'mobilenext', '--width', '0.35', '--img-size', '32', '-b', '2',
    '--num-classes', '10', '--backend', 'wasm', '--replicas', '1', '--steps', '55', '--warmup', '5', '--json'], output);
  assert.equal(code, 0);
  const result = JSON.parse(output.text()) as Record<string, number>;
  assert.deepEqual(Object.keys(result), [...KEYS, 'rssAtStep50Mb', 'rssFinalMb', 'rssGrowthPct']);
  assert.ok(result.rssAtStep50Mb > 0 && result.rssFinalMb > 0);
  // Ten more steps after the reference: a coarse bound (a leak of tensors shows in tensorsLeaked already).
  assert.ok(Math.abs(result.rssGrowthPct) < 25, `RSS grew ${result.rssGrowthPct}% in ten steps`);
  assert.equal(result.tensorsLeaked, 0);
});
