import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCli } from '../helpers.js';
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
