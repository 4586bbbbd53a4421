import type { EvalTransform } from '../data/transforms.js';
import type { ModelSpec } from '../models/graph.js';

/**
 * What a converted file carries besides the network, so an app can use it as it is; the eval transform the model
 * was trained with (ONNX and TF.js files keep it, so `mnext eval` on them matches the checkpoint).
 */
export interface ModelFileMeta extends EvalTransform {
  /** Class names in label order, when known. */
  readonly classes?: readonly string[];
  /** Input normalisation on the 0..1 scale: x = (pixel / 255 - mean) / std. */
  readonly mean: readonly number[];
  readonly std: readonly number[];
}

export { MNEXT_VERSION } from '../util/package.js';

/** The spec as a compact record for file metadata (so `mnext` can rebuild the description from a file). */
export function specRecord(spec: ModelSpec): string {
  return JSON.stringify(spec);
}
