import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { initBackend } from '../../src/backend/index.js';
import { KERNELS_WASM_BASE64, TILE_BASELINE_WASM_BASE64, TILE_RELAXED_WASM_BASE64 } from '../../src/backend/wasm/simd/kernels-wasm.js';
import { gemmTile, instantiateSimdKernels, simdKernels } from '../../src/backend/wasm/simd/index.js';
import { Rng } from '../../src/util/random.js';

const TOOLS = ['clang-14', 'wasm-ld-14', 'wasm2wat'];
const missing = TOOLS.filter((tool) => spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0);

test('the committed kernels-wasm.ts is what kernels.c builds to (no static data, no shadow stack)', {
  skip: missing.length > 0 ? `needs ${missing.join(', ')} (Debian clang-14, lld-14, wabt; .ci/run installs them)` : false,
}, () => {
  const result = spawnSync('bash', ['scripts/build-wasm-kernels.sh', '--check'], { encoding: 'utf8' });
  assert.equal(result.status, 0, result.stderr);
});

const moduleOf = (base64: string) => new WebAssembly.Module(new Uint8Array(Buffer.from(base64, 'base64')));

test('the SIMD kernels import the backend memory and their GEMM tile, nothing else, and run on the heap in place', async () => {
  assert.deepEqual(WebAssembly.Module.imports(moduleOf(KERNELS_WASM_BASE64)), [
    { module: 'env', name: 'memory', kind: 'memory' },
    { module: 'mnext', name: 'gemm_tile4x8', kind: 'function' },
  ]);
  assert.deepEqual(WebAssembly.Module.imports(moduleOf(TILE_BASELINE_WASM_BASE64)), [{ module: 'env', name: 'memory', kind: 'memory' }]);
  await initBackend('wasm');
  const backend = tf.backend() as BackendWasm;
  const x = tf.tensor2d([[1, 2, 3], [4, 5, 6]]);
  const out = tf.zeros([3, 2]);
  const offset = (t: tf.Tensor) => (backend.typedArrayFromHeap(t) as Float32Array).byteOffset;
  simdKernels(backend).transpose(offset(x), offset(out), 1, 2, 3);
  assert.deepEqual([...out.dataSync()], [1, 4, 2, 5, 3, 6]);
  tf.dispose([x, out]);
});

test('the relaxed-SIMD (fused multiply-add) and baseline GEMM tiles give the same products', { skip: gemmTile() === 'relaxed' ? false : 'this engine has no relaxed SIMD' }, () => {
  assert.ok(WebAssembly.validate(new Uint8Array(Buffer.from(TILE_RELAXED_WASM_BASE64, 'base64'))));
  const memory = new WebAssembly.Memory({ initial: 4 });
  const [rows, red, n] = [13, 37, 27]; // edges of every tile shape
  const heap = new Float32Array(memory.buffer);
  const rng = new Rng(5);
  const [a, b, c1, c2] = [0, rows * red, rows * red + red * n, rows * red + red * n + rows * n];
  for (let i = 0; i < c1; i++) heap[i] = rng.next() * 2 - 1;
  instantiateSimdKernels(memory, 'relaxed').gemm(a * 4, b * 4, c1 * 4, rows, red, n, red, 1);
  instantiateSimdKernels(memory, 'baseline').gemm(a * 4, b * 4, c2 * 4, rows, red, n, red, 1);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < n; j++) {
      let expected = 0;
      for (let k = 0; k < red; k++) expected += heap[a + i * red + k] * heap[b + k * n + j];
      assert.ok(Math.abs(heap[c1 + i * n + j] - expected) < 1e-4 && Math.abs(heap[c2 + i * n + j] - expected) < 1e-4, `c[${i}, ${j}]`);
    }
  }
});
