import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCli, tempDir } from '../helpers.js';
import { referenceFixture, referenceFixturesMissing } from '../reference-fixtures.js';

test('mnext parity --json reports maxAbsDiff, argmaxAgree and backend', { skip: referenceFixturesMissing }, async () => {
  const { code, stdout } = await runCli('parity', referenceFixture('mnext_050_64_c10'), '--backend', 'cpu', '--json');
  assert.equal(code, 0);
  const result = JSON.parse(stdout) as { maxAbsDiff: number; argmaxAgree: boolean; backend: string };
  assert.ok(result.maxAbsDiff < 1e-3);
  assert.equal(result.argmaxAgree, true);
  assert.equal(result.backend, 'cpu');
});

test('mnext parity exits 1 when over --tolerance', { skip: referenceFixturesMissing }, async () => {
  const { code, stdout } = await runCli('parity', referenceFixture('mnext_050_64_c10'), '--backend', 'wasm', '--tolerance', '1e-9');
  assert.equal(code, 1);
  assert.match(stdout, /FAIL/);
});

test('mnext parity on a missing file exits 2 with one sentence', async () => {
  const { code, stderr } = await runCli('parity', 'no/such/fixture.json');
  assert.equal(code, 2);
  assert.match(stderr, /fixture not found: no\/such\/fixture\.json/);
});

test('mnext models --json lists names with params', async () => {
  const { code, stdout } = await runCli('models', '--json');
  assert.equal(code, 0);
  const models = JSON.parse(stdout) as { name: string; params: number }[];
  assert.equal(models.find((m) => m.name === 'mobilenext_100')!.params, 3535416);
  assert.equal(models.find((m) => m.name === 'mobilenetv2_035')!.params, 1677128);
});

test('parity-train refuses a missing --steps and a folder it did not make, with exit code 2', async () => {
  const missing = await runCli('parity-train', '--out', tempDir());
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /--steps: expected a positive integer/);
  const report = await runCli('parity-train', '--out', tempDir(), '--report');
  assert.equal(report.code, 2);
  assert.match(report.stderr, /has no args\.yaml: not a parity-train folder/);
  const mixup = await runCli('parity-train', '--steps', '2', '--out', tempDir(), '--mixup', '0.2', '--data', tempDir());
  assert.equal(mixup.code, 2);
  assert.match(mixup.stderr, /mixup: the training-parity harness replays images as recorded/);
});
