import * as tf from '@tensorflow/tfjs-core';
import type { InferenceModel } from '../../models/executor.js';
import { INPUT_ID } from '../../models/graph.js';
import { type Quantization, TfliteGraph, type TfliteOp, type TfliteTensor, bytesOf } from './ir.js';
import { SortedSample, decisionRange, mseRange } from './ranges.js';
import type { BuiltinName } from './schema.js';

/**
 * Post-training full-integer quantisation of a lowered TFLite graph, the scheme TFLite's own converter uses:
 * per-channel symmetric int8 weights, per-tensor asymmetric int8 activations from calibrated min/max, int32
 * biases at scale input_scale * weight_scale, fixed output scales where the int8 kernels require them.
 */

export interface Range {
  readonly min: number;
  readonly max: number;
}

/** Observed activation range per description node id (and INPUT_ID for the input). */
export type ActivationRanges = ReadonlyMap<string, Range>;

/** A normalised NHWC float32 batch of calibration images. */
export interface CalibrationBatch {
  readonly data: Float32Array;
  readonly batch: number;
}

/**
 * How each activation's int8 range is chosen: `minmax` covers everything calibration saw; `mse` clips each
 * tensor where the squared quantisation error over the calibration values is least, and gives the class
 * scores the range where the top-1 decision is made (ranges.ts).
 */
export type RangeMethod = 'minmax' | 'mse';
export const RANGE_METHODS: readonly RangeMethod[] = ['minmax', 'mse'];

/** What calibration observed of one node's output. */
export interface NodeObservation {
  min: number;
  max: number;
  /** An evenly strided sample of the values (every channel represented), for range selection. */
  readonly samples: Float32Array[];
}

export interface Observations {
  readonly nodes: ReadonlyMap<string, NodeObservation>;
  /** The model-description node whose output is the class scores. */
  readonly output: string;
  readonly classes: number;
  /** Every calibration image's class scores, rows of `classes`. */
  readonly scores: Float32Array;
}

/** Values kept per node and batch: enough for the tails that decide a clipping point, little memory. */
const SAMPLES_PER_BATCH = 8192;

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

/** A stride over a flattened NHWC tensor that visits every channel (coprime to the channel count). */
export function channelFairStride(size: number, channels: number, samples: number): number {
  let stride = Math.max(1, Math.ceil(size / samples));
  while (gcd(stride, channels) !== 1) stride += 1;
  return stride;
}

/**
 * Runs calibration batches through the folded tfjs model and records every node output's min/max, a strided
 * sample of its values and the class scores — what the int8 ranges are chosen from.
 */
export async function observeActivations(model: InferenceModel, batches: AsyncIterable<CalibrationBatch> | Iterable<CalibrationBatch>): Promise<Observations> {
  const nodes = new Map<string, NodeObservation>();
  const scores: Float32Array[] = [];
  const [h, w, c] = model.graph.inputShape;
  for await (const { data, batch } of batches) {
    const seen: { id: string; extremes: tf.Tensor; sample: tf.Tensor }[] = [];
    const x = tf.tensor4d(data, [batch, h, w, c]);
    // Kept past predict's tidy scope; everything else the observer makes is freed with it.
    const observe = (id: string, value: tf.Tensor) => {
      const [extremes, sample] = tf.tidy(() => {
        const stride = channelFairStride(value.size, value.shape[value.rank - 1], SAMPLES_PER_BATCH);
        return [tf.stack([tf.min(value), tf.max(value)]), tf.stridedSlice(tf.reshape(value, [-1]), [0], [value.size], [stride])];
      });
      seen.push({ id, extremes: tf.keep(extremes), sample: tf.keep(sample) });
    };
    observe(INPUT_ID, x);
    const logits = model.predict(x, observe);
    scores.push((await logits.data()) as Float32Array);
    logits.dispose();
    for (const { id, extremes, sample } of seen) {
      const [min, max] = extremes.dataSync();
      const values = sample.dataSync() as Float32Array;
      const node = nodes.get(id);
      if (node) {
        node.min = Math.min(node.min, min);
        node.max = Math.max(node.max, max);
        node.samples.push(values);
      } else {
        nodes.set(id, { min, max, samples: [values] });
      }
    }
    tf.dispose([x, ...seen.flatMap((s) => [s.extremes, s.sample])]);
  }
  if (nodes.size === 0) throw new Error('calibration saw no images');
  return { nodes, output: model.graph.output, classes: model.graph.spec.numClasses, scores: concat(scores) };
}

/** One range per node from what calibration observed. */
export function selectRanges(observed: Observations, method: RangeMethod): ActivationRanges {
  const ranges = new Map<string, Range>();
  for (const [id, node] of observed.nodes) {
    if (method === 'minmax') ranges.set(id, { min: node.min, max: node.max });
    else if (id === observed.output) ranges.set(id, decisionRange(observed.scores, observed.classes));
    // the extremes join the sample, which is strided and would miss them: clipping is measured from the true range
    else ranges.set(id, mseRange(new SortedSample(concat([...node.samples, Float32Array.of(node.min, node.max)]))));
  }
  return ranges;
}

function concat(parts: readonly Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  parts.reduce((offset, p) => (out.set(p, offset), offset + p.length), 0);
  return out;
}

/** Calibrates the model on the batches and chooses every activation's int8 range (default `mse`). */
export async function calibrateRanges(
  model: InferenceModel, batches: AsyncIterable<CalibrationBatch> | Iterable<CalibrationBatch>, method: RangeMethod = 'mse',
): Promise<ActivationRanges> {
  return selectRanges(await observeActivations(model, batches), method);
}

const INT8_MIN = -128;
const INT8_MAX = 127;
/** Kernels require these for LOGISTIC and SOFTMAX int8 outputs: [0, 1) in 256 steps. */
const UNIT_INTERVAL: Quantization = { scale: [1 / 256], zeroPoint: [-128] };

/** Asymmetric int8 parameters covering [min, max] and exactly representing 0 (zero padding stays exact). */
export function activationQuant(range: Range): Quantization {
  const min = Math.min(range.min, 0);
  const max = Math.max(range.max, 0, min + 1e-6);
  const scale = (max - min) / (INT8_MAX - INT8_MIN);
  const zeroPoint = Math.max(INT8_MIN, Math.min(INT8_MAX, Math.round(INT8_MIN - min / scale)));
  return { scale: [scale], zeroPoint: [zeroPoint], min: [range.min], max: [range.max] };
}

/** Ops whose int8 kernels copy bytes, so every activation they touch must share one scale and zero point. */
const SAME_QUANT: Partial<Record<BuiltinName, (op: TfliteOp) => readonly number[]>> = {
  PAD: (op) => [op.inputs[0], ...op.outputs],
  SLICE: (op) => [op.inputs[0], ...op.outputs],
  SPLIT: (op) => [op.inputs[1], ...op.outputs],
  SPLIT_V: (op) => [op.inputs[0], ...op.outputs],
  RESHAPE: (op) => [op.inputs[0], ...op.outputs],
  CONCATENATION: (op) => [...op.inputs, ...op.outputs],
};

/** Operator versions the int8 kernels are registered under (TFLite's op version table). */
const INT8_VERSION: Partial<Record<BuiltinName, number>> = {
  CONV_2D: 3, DEPTHWISE_CONV_2D: 3, FULLY_CONNECTED: 4, ADD: 2, MUL: 2, CONCATENATION: 2, MEAN: 2, PAD: 2, SLICE: 2,
  SPLIT: 2, SPLIT_V: 2, RESHAPE: 1, LOGISTIC: 2, SOFTMAX: 2, RELU6: 2, QUANTIZE: 2, DEQUANTIZE: 2,
};

/** Union-find over tensor indices. */
class Groups {
  private readonly parent: number[];
  constructor(size: number) {
    this.parent = Array.from({ length: size }, (_, i) => i);
  }
  find(i: number): number {
    while (this.parent[i] !== i) i = this.parent[i] = this.parent[this.parent[i]];
    return i;
  }
  join(indices: readonly number[]): void {
    for (const i of indices.slice(1)) this.parent[this.find(i)] = this.find(indices[0]);
  }
}

function unionRange(a: Range | undefined, b: Range): Range {
  return a ? { min: Math.min(a.min, b.min), max: Math.max(a.max, b.max) } : b;
}

/** Quantisation of every activation tensor: shared groups get the union of their members' ranges. */
function activationParams(g: TfliteGraph, ranges: ActivationRanges): Map<number, Quantization> {
  const groups = new Groups(g.tensors.length);
  for (const op of g.ops) {
    const members = SAME_QUANT[op.op]?.(op);
    if (members) groups.join(members);
  }
  const fixed = new Set(g.ops.filter((op) => op.op === 'LOGISTIC' || op.op === 'SOFTMAX').flatMap((op) => op.outputs));
  const groupRange = new Map<number, Range>();
  g.tensors.forEach((t, i) => {
    const range = t.source === undefined ? undefined : ranges.get(t.source);
    if (range && !fixed.has(i)) groupRange.set(groups.find(i), unionRange(groupRange.get(groups.find(i)), range));
  });
  const params = new Map<number, Quantization>();
  g.tensors.forEach((t, i) => {
    if (t.data) return;
    if (fixed.has(i)) {
      params.set(i, UNIT_INTERVAL);
      return;
    }
    const range = groupRange.get(groups.find(i));
    if (!range) throw new Error(`quantize: no calibration range reaches tensor '${t.name}'`);
    params.set(i, activationQuant(range));
  });
  return params;
}

/** Symmetric per-channel int8 along axis 0 ([O, ...] filters) or the last axis (depthwise [1, kh, kw, C]). */
function quantizeWeights(values: Float32Array, channels: number, channelAxisLast: boolean): { data: Int8Array; scales: number[] } {
  const per = values.length / channels;
  const channelOf = (i: number) => (channelAxisLast ? i % channels : Math.floor(i / per));
  const maxAbs = new Float64Array(channels);
  values.forEach((v, i) => {
    const c = channelOf(i);
    maxAbs[c] = Math.max(maxAbs[c], Math.abs(v));
  });
  const scales = Array.from(maxAbs, (m) => (m > 0 ? m / INT8_MAX : 1));
  const data = new Int8Array(values.length);
  values.forEach((v, i) => {
    data[i] = Math.max(-INT8_MAX, Math.min(INT8_MAX, Math.round(v / scales[channelOf(i)])));
  });
  return { data, scales };
}

function quantizeFilterAndBias(g: TfliteGraph, op: TfliteOp, inputScale: number): void {
  const [, filterIndex, biasIndex] = op.inputs;
  const filter = g.tensors[filterIndex];
  const depthwise = op.op === 'DEPTHWISE_CONV_2D';
  // One scale per output channel: axis 0 of CONV_2D [O, kh, kw, I] and FULLY_CONNECTED [O, I] filters, the
  // last axis of DEPTHWISE_CONV_2D [1, kh, kw, C].
  const channels = depthwise ? filter.shape[filter.shape.length - 1] : filter.shape[0];
  const { data, scales } = quantizeWeights(g.floatData(filterIndex), channels, depthwise);
  filter.type = 'INT8';
  filter.data = bytesOf(data);
  filter.quant = { scale: scales, zeroPoint: scales.map(() => 0), dimension: depthwise ? filter.shape.length - 1 : 0 };
  const bias = g.tensors[biasIndex];
  const biasScales = scales.map((s) => s * inputScale);
  const biasValues = g.floatData(biasIndex);
  bias.type = 'INT32';
  bias.data = bytesOf(Int32Array.from(biasValues, (b, c) => Math.max(-(2 ** 31), Math.min(2 ** 31 - 1, Math.round(b / biasScales[c])))));
  bias.quant = { scale: biasScales, zeroPoint: biasScales.map(() => 0), dimension: 0 };
}

export interface QuantizeOptions {
  /** Keep int8 input/output tensors (no QUANTIZE/DEQUANTIZE at the edges). */
  readonly int8Io: boolean;
}

/** A new graph: the float graph with int8 activations and weights, and float I/O unless `int8Io`. */
export function quantizeGraph(float: TfliteGraph, ranges: ActivationRanges, options: QuantizeOptions): TfliteGraph {
  const params = activationParams(float, ranges);
  const g = new TfliteGraph();
  for (const t of float.tensors) g.addTensor({ ...t } as TfliteTensor);
  for (const [i, q] of params) {
    g.tensors[i].type = 'INT8';
    g.tensors[i].quant = q;
  }
  for (const op of float.ops) {
    if (op.op === 'CONV_2D' || op.op === 'DEPTHWISE_CONV_2D' || op.op === 'FULLY_CONNECTED') {
      quantizeFilterAndBias(g, op, params.get(op.inputs[0])!.scale[0]);
    }
  }
  const ops = float.ops.map((op) => ({ ...op, version: INT8_VERSION[op.op] ?? op.version }));
  g.inputs = [...float.inputs];
  g.outputs = [...float.outputs];
  if (!options.int8Io) {
    const [input] = float.inputs;
    const [output] = float.outputs;
    const floatIn = g.addTensor({ name: `${float.tensors[input].name}_float`, shape: float.tensors[input].shape, type: 'FLOAT32' });
    const floatOut = g.addTensor({ name: `${float.tensors[output].name}_float`, shape: float.tensors[output].shape, type: 'FLOAT32' });
    ops.unshift({ op: 'QUANTIZE', inputs: [floatIn], outputs: [input], version: INT8_VERSION.QUANTIZE! });
    ops.push({ op: 'DEQUANTIZE', inputs: [output], outputs: [floatOut], version: INT8_VERSION.DEQUANTIZE! });
    g.inputs = [floatIn];
    g.outputs = [floatOut];
  }
  g.ops.push(...ops);
  return g;
}
