import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend, setThreads, setXnnpackThreads, xnnpackGrowthsLeft, xnnpackThreads } from '../../src/backend/index.js';
import { threadsSupported } from '../../src/backend/wasm/threads/pthread-node.js';

const skip = threadsSupported() ? false : 'this Node has no shared WebAssembly memory';

test('XNNPACK\'s pool shrinks to one thread for free and grows back at the cost of a pthread worker, computing the same', { skip }, async () => {
  setThreads(2);
  await initBackend('wasm');
  const x = tf.randomNormal<tf.Rank.R4>([1, 16, 16, 8], 0, 1, 'float32', 1);
  const w = tf.randomNormal<tf.Rank.R4>([3, 3, 8, 16], 0, 1, 'float32', 2);
  const conv = () => tf.tidy(() => tf.conv2d(x, w, 1, 'same').dataSync());
  assert.equal(xnnpackThreads(), 2);
  const growths = xnnpackGrowthsLeft();
  assert.ok(growths >= 1, `${growths} growths left after the start`);
  const onTwo = conv();

  setXnnpackThreads(1);
  assert.equal(xnnpackThreads(), 1);
  assert.equal(xnnpackGrowthsLeft(), growths, 'shrinking takes no worker');
  const onOne = conv();
  setXnnpackThreads(1);
  assert.equal(xnnpackGrowthsLeft(), growths, 'the size the pool has already costs nothing');

  setXnnpackThreads(2);
  assert.equal(xnnpackThreads(), 2);
  assert.equal(xnnpackGrowthsLeft(), growths - 1);
  assert.deepEqual(conv(), onTwo);
  for (let i = 0; i < onOne.length; i++) assert.ok(Math.abs(onOne[i] - onTwo[i]) <= 1e-4 * (1 + Math.abs(onTwo[i])), `output ${i}`);

  assert.throws(() => setXnnpackThreads(3), /cannot have 3 threads: the wasm backend started with 2/);
  tf.dispose([x, w]);
});
