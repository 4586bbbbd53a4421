import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { computeThreads, initBackend, setThreads, useComputeThreads } from '../../src/backend/index.js';
import { threadsSupported } from '../../src/backend/wasm/threads/pthread-node.js';

const skip = threadsSupported() ? false : 'this Node has no shared WebAssembly memory';

test('the wasm engine\'s convs run on fewer of its threads on request, computing the same bits', { skip }, async () => {
  setThreads(2);
  await initBackend('wasm');
  const x = tf.randomNormal<tf.Rank.R4>([2, 24, 24, 32], 0, 1, 'float32', 1);
  const pointwise = tf.randomNormal<tf.Rank.R4>([1, 1, 32, 48], 0, 1, 'float32', 2);
  const depthwise = tf.randomNormal<tf.Rank.R4>([3, 3, 32, 1], 0, 1, 'float32', 3);
  const convs = () => tf.tidy(() => [
    ...tf.conv2d(x, pointwise, 1, 'valid').dataSync(),
    ...tf.fused.depthwiseConv2d({ x, filter: depthwise, strides: 1, pad: 'same', activation: 'relu6' }).dataSync(),
  ]);
  const onTwo = convs();
  assert.equal(computeThreads(), 2);
  useComputeThreads(1);
  assert.equal(computeThreads(), 1);
  assert.deepEqual(convs(), onTwo);
  useComputeThreads(2);
  assert.equal(computeThreads(), 2);
  assert.deepEqual(convs(), onTwo);
  assert.throws(() => useComputeThreads(3), /the pool has 2 threads, not 3/);
  tf.dispose([x, pointwise, depthwise]);
});
