import { readFileSync } from 'node:fs';
import type { InferenceGraph } from '../../models/fold.js';
import { type FileOutputKind, readHead } from '../../util/output-path.js';
import { MNEXT_VERSION, type ModelFileMeta } from '../meta.js';
import { lowerToTflite } from './lower.js';
import { LABELS_FILE, TFLITE_AUTHOR, appendAssociatedFiles, metadataEntries, readTfliteInfo } from './metadata.js';
import { type ActivationRanges, quantizeGraph } from './quantize.js';
import { serializeTflite } from './serialize.js';

export { readTfliteInfo, type TfliteInfo } from './metadata.js';
export { readTfliteOps, readTfliteShapes } from './read.js';
export {
  type ActivationRanges, type CalibrationBatch, type Observations, RANGE_METHODS, type RangeMethod, calibrateRanges, observeActivations, selectRanges,
} from './quantize.js';

/**
 * A .tflite mnext converted: the flatbuffer identifier 'TFL3' (checked first, from the head, so a large foreign
 * file is not read whole) and mnext as the metadata's author ('TFL3' alone would take any TFLite file).
 */
export const TFLITE_MODEL_FILE: FileOutputKind = {
  type: 'file',
  description: 'TFLite model',
  recognise: (path) => new TextDecoder().decode(readHead(path, 8).subarray(4)) === 'TFL3' && readTfliteInfo(readFileSync(path)).author === TFLITE_AUTHOR,
};

export interface TfliteQuantizeOptions {
  /** Per-node activation ranges from calibration (calibrateRanges). */
  readonly ranges: ActivationRanges;
  /** int8 input/output tensors instead of float32 with QUANTIZE/DEQUANTIZE at the edges. */
  readonly int8Io?: boolean;
}

/** Labels and input normalisation (0..1 scale) go into the TFLite metadata. */
export interface TfliteWriteOptions extends ModelFileMeta {
  /** Static batch size of the input tensor (default 1, what phones run). */
  readonly batch?: number;
  /** Append SOFTMAX (probabilities out) instead of returning logits. */
  readonly softmax?: boolean;
  readonly quantize?: TfliteQuantizeOptions;
  /** Model name recorded in the metadata (default: arch and width). */
  readonly name?: string;
}

function describe(graph: InferenceGraph, quantized: boolean): string {
  const { arch, width, tensorMultiplier, inputSize, numClasses } = graph.spec;
  const k = tensorMultiplier > 1 ? `, tensor multiplier ${tensorMultiplier}` : '';
  return `${arch} width ${width}${k}, ${inputSize}x${inputSize} input, ${numClasses} classes, ${quantized ? 'int8' : 'float32'}; written by mnext`;
}

/**
 * The deployable .tflite of an eval-mode model description: float32 (or full-integer int8 with `quantize`),
 * NHWC, with TFLite metadata (input normalisation, labels file) so a phone app can use it as it is.
 */
export function writeTflite(graph: InferenceGraph, options: TfliteWriteOptions): Uint8Array {
  if (options.classes && options.classes.length !== graph.spec.numClasses) {
    throw new Error(`writeTflite: ${options.classes.length} class labels for a model with ${graph.spec.numClasses} outputs`);
  }
  const lowered = lowerToTflite(graph, { batch: options.batch ?? 1, softmax: options.softmax ?? false });
  const tflite = options.quantize ? quantizeGraph(lowered, options.quantize.ranges, { int8Io: options.quantize.int8Io ?? false }) : lowered;
  const description = describe(graph, options.quantize !== undefined);
  const info = {
    name: options.name ?? `${graph.spec.arch}_${graph.spec.width}`,
    description,
    version: `mnext ${MNEXT_VERSION}`,
    inputSize: graph.spec.inputSize,
    mean: options.mean,
    std: options.std,
    classes: options.classes,
  };
  // Per-channel int8 kernels arrived in TFLite 2.3; the float ops here run on 1.14 and later.
  const minRuntime = options.quantize ? '2.3.0' : '1.14.0';
  const model = serializeTflite(tflite, {
    description, metadata: metadataEntries(info, minRuntime), inputName: 'image', outputName: options.softmax ? 'probabilities' : 'logits',
  });
  if (!options.classes) return model;
  return appendAssociatedFiles(model, { [LABELS_FILE]: new TextEncoder().encode(`${options.classes.join('\n')}\n`) });
}
