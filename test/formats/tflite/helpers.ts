import { spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { InferenceModel } from '../../../src/models/executor.js';
import { SYSTEM_PYTHON, tempDir } from '../../helpers.js';

export const META = {
  mean: [0.485, 0.456, 0.406],
  std: [0.229, 0.224, 0.225],
  classes: Array.from({ length: 10 }, (_, i) => `class ${i}`),
};

/** The folded tfjs model's logits for an NHWC batch (the reference every runtime is compared with). */
export function tfjsLogits(model: InferenceModel, input: Float32Array, batch: number): Float32Array {
  const [h, w, c] = model.graph.inputShape;
  return tf.tidy(() => model.predict(tf.tensor4d(input, [batch, h, w, c])).dataSync() as Float32Array);
}

const ARMNN_SCRIPT = join(import.meta.dirname, '..', '..', '..', 'scripts', 'pyarmnn_run.py');

/** Why Arm NN checks cannot run here, or false when python3-pyarmnn imports. */
export const armnnMissing = spawnSync(SYSTEM_PYTHON, ['-c', 'import pyarmnn'], { stdio: 'ignore' }).status === 0
  ? false
  : `python3-pyarmnn is not importable by ${SYSTEM_PYTHON} (apt-get install python3-pyarmnn)`;

/** Runs a .tflite in Arm NN (ITfLiteParser, CpuRef) through scripts/pyarmnn_run.py; one output row per input. */
export function armnnOutputs(model: Uint8Array, input: Float32Array): number[][] {
  const dir = tempDir('mnext-armnn-');
  try {
    writeFileSync(join(dir, 'model.tflite'), model);
    writeFileSync(join(dir, 'input.bin'), new Uint8Array(input.buffer, input.byteOffset, input.byteLength));
    const run = spawnSync(SYSTEM_PYTHON, [ARMNN_SCRIPT, join(dir, 'model.tflite'), join(dir, 'input.bin')], { encoding: 'utf8', maxBuffer: 64 << 20 });
    if (run.status !== 0) throw new Error(`pyarmnn_run.py failed (${run.status}): ${run.stderr.slice(-2000)}`);
    return (JSON.parse(run.stdout) as { outputs: number[][] }).outputs;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
