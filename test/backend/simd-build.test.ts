import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { initBackend } from '../../src/backend/index.js';
import { KERNELS_WASM_BASE64 } from '../../src/backend/wasm/simd/kernels-wasm.js';
import { simdKernels } from '../../src/backend/wasm/simd/index.js';

const TOOLS = ['clang-14', 'wasm-ld-14', 'wasm2wat'];
const missing = TOOLS.filter((tool) => spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0);

test('the committed kernels-wasm.ts is what kernels.c builds to (no static data, no shadow stack)', {
  skip: missing.length > 0 ? `needs ${missing.join(', ')} (Debian clang-14, lld-14, wabt; .ci/run installs them)` : false,
}, () => {
  const result = spawnSync('bash', ['scripts/build-wasm-kernels.sh', '--check'], { encoding: 'utf8' });
  assert.equal(result.status, 0, result.stderr);
});

test('the SIMD kernels import the backend memory and nothing else, and run on it in place', async () => {
  const module = new WebAssembly.Module(Buffer.from(KERNELS_WASM_BASE64, 'base64'));
  assert.deepEqual(WebAssembly.Module.imports(module), [{ module: 'env', name: 'memory', kind: 'memory' }]);
  await initBackend('wasm');
  const backend = tf.backend() as BackendWasm;
  const x = tf.tensor2d([[1, 2, 3], [4, 5, 6]]);
  const out = tf.zeros([3, 2]);
  const offset = (t: tf.Tensor) => (backend.typedArrayFromHeap(t) as Float32Array).byteOffset;
  simdKernels(backend).transpose(offset(x), offset(out), 1, 2, 3);
  assert.deepEqual([...out.dataSync()], [1, 4, 2, 5, 3, 6]);
  tf.dispose([x, out]);
});
