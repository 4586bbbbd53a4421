import { test } from 'node:test';
import assert from 'node:assert/strict';
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
    const code = await execute(['node', 'mnext', 'bench', mode, '--model', 'mobilenext', '--width', '0.35', '--img-size', '32', '-b', '2',
      '--num-classes', '10', '--backend', 'wasm', '--steps', '2', '--warmup', '1', '--json'], output);
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
