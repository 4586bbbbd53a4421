import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execute } from '../../src/cli/main.js';
import type { Output } from '../../src/cli/output.js';

// `--workers` is bench train's older name of --replicas, kept as a hidden alias: this test is its proof.
test('mnext bench train --workers 2 (alias of --replicas) --json reports two replicas and no leaked tensors', async () => {
  const lines: string[] = [];
  const output: Output = { out: (s) => lines.push(s), err: () => undefined };
  const code = await execute(['node', 'mnext', 'bench', 'train', '--model', 'mobilenext', '--width', '0.35', '--img-size', '32', '-b', '4',
    '--num-classes', '10', '--backend', 'wasm', '--workers', '2', '--steps', '3', '--warmup', '1', '--json'], output);
  assert.equal(code, 0);
  const result = JSON.parse(lines.join('\n')) as Record<string, unknown>;
  assert.equal(result.workers, 2);
  assert.equal(result.backend, 'wasm');
  assert.equal(result.tensorsLeaked, 0);
  assert.ok((result.tensorsAfter as number) > 0 && (result.imgPerSec as number) > 0);
});
