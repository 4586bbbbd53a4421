import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import { UsageError } from '../../src/errors.js';
import { loadOptionalPackage } from '../../src/runtimes/optional-package.js';

const ABSENT: string = 'mnext-absent-package';

test('a missing optional package, imported or resolved, is one sentence naming what to install', async () => {
  const expected = new UsageError(`running things needs ${ABSENT}, which is not installed; install it with \`npm install ${ABSENT}\``);
  await assert.rejects(loadOptionalPackage(ABSENT, 'running things', () => import(ABSENT)), expected);
  await assert.rejects(loadOptionalPackage(ABSENT, 'running things', async () => createRequire(import.meta.url).resolve(ABSENT)), expected);
});

test('any other failure passes through: a missing dependency of the package, an error while loading it', async () => {
  await assert.rejects(loadOptionalPackage('onnxruntime-node', 'running ONNX models', () => import(ABSENT)), (error: Error) => !(error instanceof UsageError) && error.message.includes(ABSENT));
  const broken = new Error('the binding does not load');
  await assert.rejects(loadOptionalPackage('onnxruntime-node', 'running ONNX models', () => Promise.reject(broken)), broken);
});

test('an installed package is returned as loaded', async () => {
  const yaml = await loadOptionalPackage('yaml', 'reading YAML', () => import('yaml'));
  assert.equal(typeof yaml.parse, 'function');
});
