import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCli } from '../helpers.js';

interface Row { model: string; width: number; tensorMultiplier: number; params: number; madds: number; latencyMs: number | null; backend: string; inputSize: number; numClasses: number }

test('profile --json --no-latency gives the paper width table with exact counts', async () => {
  const { code, stdout } = await runCli('profile', '--json', '--no-latency', '--backend', 'cpu');
  assert.equal(code, 0);
  const rows = JSON.parse(stdout) as Row[];
  assert.equal(rows.length, 10);
  assert.deepEqual(rows.slice(0, 2).map((r) => [r.model, r.width]), [['mobilenext', 1.4], ['mobilenetv2', 1.4]]);
  const mnext = rows.find((r) => r.model === 'mobilenext' && r.width === 1)!;
  assert.equal(mnext.params, 3535416);
  assert.equal(mnext.madds, 311342592);
  assert.equal(mnext.latencyMs, null);
  assert.equal(mnext.backend, 'cpu');
  for (const key of ['model', 'width', 'tensorMultiplier', 'inputSize', 'numClasses', 'params', 'madds', 'latencyMs', 'backend']) {
    assert.ok(key in mnext, `row has ${key}`);
  }
});

test('profile measures latency and states how', async () => {
  const { code, stdout } = await runCli('profile', '--width', '0.5', '--models', 'mobilenext', '--img-size', '32',
    '--num-classes', '10', '--runs', '3', '--warmup', '1', '--backend', 'wasm', '--tensor-multiplier', '1,2', '--threads', '2');
  assert.equal(code, 0, stdout);
  assert.match(stdout, /mobilenext\s+0\.50\s+1\s+0\.884/);
  // --threads sets the wasm backend's threads too (tfjs's threaded build, started in Node).
  assert.match(stdout, /backend wasm, 2 thread\(s\), batch 1, median of 3 runs after 1 warm-up/);
});

test('profile --per-block --count-all --markdown shows per-block rows and element ops', async () => {
  const { code, stdout } = await runCli('profile', '--width', '1.0', '--models', 'mobilenext', '--no-latency', '--per-block', '--count-all', '--markdown');
  assert.equal(code, 0);
  assert.match(stdout, /\| features\.20 \| 493536 \| 23\.818 \|/);
  assert.match(stdout, /\| mobilenext \| 1\.00 \| 3\.535 \| 311\.34 \| 14\.51 \| 325\.86 \|/);
});

test('profile rejects bad input with one sentence and exit code 2', async () => {
  for (const args of [['--models', 'resnet50'], ['--width', '0'], ['--width', '-1'], ['--runs', 'abc'], ['--img-size', '3.5'], ['--img-size', '0'], ['--tensor-multiplier', '1,x']]) {
    const { code, stderr } = await runCli('profile', '--no-latency', ...args);
    assert.equal(code, 2, args.join(' '));
    assert.ok(!/\n\s+at /.test(stderr), `no stack trace for ${args.join(' ')}: ${stderr}`);
    assert.ok(stderr.trim().length > 0);
  }
});

test('profile --runtime onnx,tflite adds per-runtime latency columns and --plot writes a PNG', async () => {
  const { join } = await import('node:path');
  const { readFileSync } = await import('node:fs');
  const { tempDir } = await import('../helpers.js');
  const plot = join(tempDir(), 'latency.png');
  const { code, stdout, stderr } = await runCli('profile', '--widths', '0.35', '--img-size', '64', '--runs', '2', '--warmup', '1',
    '--backend', 'wasm', '--runtime', 'onnx,tflite', '--threads', '1', '--plot', plot, '--json');
  assert.equal(code, 0, stderr);
  const rows = JSON.parse(stdout) as { model: string; runtimes: { runtime: string; medianMs: number; threads: number }[] }[];
  assert.equal(rows.length, 2);
  for (const row of rows) {
    assert.deepEqual(row.runtimes.map((r) => r.runtime), ['onnx', 'tflite']);
    for (const r of row.runtimes) assert.ok(r.medianMs > 0 && r.threads === 1);
  }
  assert.deepEqual([...readFileSync(plot).subarray(1, 4)], [...Buffer.from('PNG')]);
  const bad = await runCli('profile', '--no-latency', '--runtime', 'coreml');
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--runtime: expected a list of tfjs, onnx, tflite, got 'coreml'/);
});

test('profile --model profiles a checkpoint (or fixture) at its own input size and class count', async () => {
  const { join } = await import('node:path');
  const { saveCheckpoint } = await import('../../src/io/checkpoint.js');
  const { createModelGraph } = await import('../../src/models/registry.js');
  const { initStateDict } = await import('../../src/models/weights.js');
  const { tempDir } = await import('../helpers.js');
  const graph = createModelGraph('mobilenext', { width: 0.5, numClasses: 10, inputSize: 32, tensorMultiplier: 2 });
  const dir = join(tempDir(), 'ckpt');
  saveCheckpoint(dir, { spec: graph.spec, weights: initStateDict(graph, 1) });
  const { code, stdout, stderr } = await runCli('profile', '--model', dir, '--runs', '2', '--warmup', '1', '--backend', 'wasm', '--json');
  assert.equal(code, 0, stderr);
  const [row] = JSON.parse(stdout) as Row[];
  assert.deepEqual([row.model, row.width, row.tensorMultiplier, row.inputSize, row.numClasses, row.params], ['mobilenext', 0.5, 2, 32, 10, 884114]);
  assert.ok(row.latencyMs! > 0);
});
