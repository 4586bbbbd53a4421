import { existsSync, readFileSync } from 'node:fs';
import { InputError } from '../errors.js';
import type { ModelSpec } from '../models/graph.js';
import { resolveModelSpec } from '../models/registry.js';
import { type StateDict, sizeOf } from '../models/state-dict.js';

/**
 * A parity fixture: weights dumped from a PyTorch model, an input batch (NCHW) and the logits the reference
 * model returned in eval mode. `<name>.json` describes `<name>.weights.bin` (float32 little-endian).
 */
export interface Fixture {
  readonly spec: ModelSpec;
  readonly weights: StateDict;
  /** NCHW input batch. */
  readonly inputShape: readonly [number, number, number, number];
  readonly input: Float32Array;
  readonly logits: readonly (readonly number[])[];
}

interface FixtureJson {
  model: string;
  width: number;
  num_classes: number;
  tensor_multiplier?: number;
  input_shape: [number, number, number, number];
  tensors: { name: string; shape: number[]; offset: number }[];
  input_offset: number;
  logits: number[][];
}

function floatsAt(bin: Buffer, offset: number, count: number): Float32Array {
  if (offset + count * 4 > bin.length) throw new InputError(`fixture weights file is truncated (need ${offset + count * 4} bytes, have ${bin.length})`);
  const copy = new Float32Array(count);
  new Uint8Array(copy.buffer).set(bin.subarray(offset, offset + count * 4));
  return copy;
}

export function loadFixture(jsonPath: string): Fixture {
  if (!existsSync(jsonPath)) throw new InputError(`fixture not found: ${jsonPath}`);
  let meta: FixtureJson;
  try {
    meta = JSON.parse(readFileSync(jsonPath, 'utf8')) as FixtureJson;
  } catch (error) {
    throw new InputError(`fixture ${jsonPath} is not valid JSON: ${(error as Error).message}`);
  }
  for (const key of ['model', 'width', 'num_classes', 'input_shape', 'tensors', 'input_offset', 'logits'] as const) {
    if (meta[key] === undefined) throw new InputError(`fixture ${jsonPath} lacks the '${key}' field`);
  }
  const binPath = jsonPath.replace(/\.json$/, '.weights.bin');
  if (!existsSync(binPath)) throw new InputError(`fixture weights not found: ${binPath}`);
  const bin = readFileSync(binPath);
  const [n, c, h, w] = meta.input_shape;
  if (h !== w || c !== 3) throw new InputError(`fixture input must be Nx3xSxS, got ${meta.input_shape.join('x')}`);
  const spec = resolveModelSpec(meta.model, {
    width: meta.width, numClasses: meta.num_classes, inputSize: h, tensorMultiplier: meta.tensor_multiplier ?? 1,
  });
  const weights: StateDict = new Map(meta.tensors.map((t) => [t.name, { shape: t.shape, data: floatsAt(bin, t.offset, sizeOf(t.shape)) }]));
  return { spec, weights, inputShape: [n, c, h, w], input: floatsAt(bin, meta.input_offset, n * c * h * w), logits: meta.logits };
}
