import type { EvalTransform } from '../data/transforms.js';

/**
 * A loaded model in some runtime (tfjs, onnxruntime-node, LiteRT) that maps a float32 image batch to logits.
 * `mnext eval`, `mnext convert`'s verification and `mnext profile --runtime` all go through this one shape,
 * so adding a runtime is adding one implementation. The eval transform fields are what the file records of how
 * the model was trained to be evaluated (checkpoints, ONNX and TF.js files do; .tflite files do not).
 */
export interface ModelRunner extends EvalTransform {
  /** 'tfjs' | 'onnx' | 'tflite' ... for messages and result records. */
  readonly runtime: string;
  /** Layout the runner wants its input in; callers hand NHWC and the runner transposes if needed. */
  readonly classes?: readonly string[];
  /** Input normalisation the model file ships with (0..1 scale), when it records one. */
  readonly mean?: readonly number[];
  readonly std?: readonly number[];
  /** Square input size the model expects. */
  readonly inputSize: number;
  readonly numClasses: number;
  /** The weights are a fresh random initialisation (the model was named by its architecture only). */
  readonly freshWeights?: boolean;
  /** input: normalised NHWC float32 batch of `batch` images -> logits, row-major [batch, numClasses]. */
  run(input: Float32Array, batch: number): Promise<Float32Array>;
  dispose(): Promise<void> | void;
}
