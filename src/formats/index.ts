/** The deployment formats mnext writes and reads back; each has its writer in a sub-folder. */
export type ConvertTarget = 'tflite' | 'onnx' | 'tfjs';
export const CONVERT_TARGETS: readonly ConvertTarget[] = ['tflite', 'onnx', 'tfjs'];
