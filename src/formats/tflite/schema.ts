/**
 * The numbers from spec/tflite_schema.fbs that mnext's TFLite writer uses: enum values, builtin operator codes,
 * BuiltinOptions union indices and the field slots of every table written. A field's slot is its position in
 * the table declaration, a union field taking two slots (`_type` then the value). Only the tables and fields
 * mnext writes are listed; the rest of the schema is not needed to produce or read these files.
 */

export const TFLITE_IDENTIFIER = 'TFL3';
/** Model.version: the schema version every current runtime reads. */
export const TFLITE_SCHEMA_VERSION = 3;

export const TensorType = { FLOAT32: 0, INT32: 2, INT8: 9 } as const;
export type TensorTypeName = keyof typeof TensorType;

export const Padding = { SAME: 0, VALID: 1 } as const;
export const Activation = { NONE: 0, RELU6: 3 } as const;

/** BuiltinOperator codes and, for each, the BuiltinOptions union member that carries its options. */
export const Builtin = {
  ADD: { code: 0, options: 11 },
  AVERAGE_POOL_2D: { code: 1, options: 5 },
  CONCATENATION: { code: 2, options: 10 },
  CONV_2D: { code: 3, options: 1 },
  DEPTHWISE_CONV_2D: { code: 4, options: 2 },
  DEQUANTIZE: { code: 6, options: 38 },
  FULLY_CONNECTED: { code: 9, options: 8 },
  LOGISTIC: { code: 14, options: 0 },
  MUL: { code: 18, options: 21 },
  RELU6: { code: 21, options: 0 },
  RESHAPE: { code: 22, options: 17 },
  SOFTMAX: { code: 25, options: 9 },
  PAD: { code: 34, options: 22 },
  MEAN: { code: 40, options: 27 },
  SPLIT: { code: 49, options: 35 },
  SLICE: { code: 65, options: 48 },
  SPLIT_V: { code: 102, options: 79 },
  QUANTIZE: { code: 114, options: 89 },
} as const;
export type BuiltinName = keyof typeof Builtin;

/** Codes above this live only in OperatorCode.builtin_code; deprecated_builtin_code then holds 127. */
export const PLACEHOLDER_FOR_GREATER_OP_CODES = 127;

export const ModelSlot = { version: 0, operatorCodes: 1, subgraphs: 2, description: 3, buffers: 4, metadataBuffer: 5, metadata: 6, signatureDefs: 7 } as const;
export const OperatorCodeSlot = { deprecatedBuiltinCode: 0, customCode: 1, version: 2, builtinCode: 3 } as const;
export const SubGraphSlot = { tensors: 0, inputs: 1, outputs: 2, operators: 3, name: 4 } as const;
export const TensorSlot = { shape: 0, type: 1, buffer: 2, name: 3, quantization: 4, isVariable: 5, sparsity: 6, shapeSignature: 7, hasRank: 8 } as const;
export const QuantizationSlot = { min: 0, max: 1, scale: 2, zeroPoint: 3, detailsType: 4, details: 5, quantizedDimension: 6 } as const;
export const OperatorSlot = { opcodeIndex: 0, inputs: 1, outputs: 2, builtinOptionsType: 3, builtinOptions: 4 } as const;
export const BufferSlot = { data: 0 } as const;
export const MetadataSlot = { name: 0, buffer: 1 } as const;
export const SignatureDefSlot = { inputs: 0, outputs: 1, signatureKey: 2, subgraphIndex: 4 } as const;
export const TensorMapSlot = { name: 0, tensorIndex: 1 } as const;

/** Option table slots, per table. */
export const Conv2DSlot = { padding: 0, strideW: 1, strideH: 2, activation: 3, dilationW: 4, dilationH: 5 } as const;
export const DepthwiseSlot = { padding: 0, strideW: 1, strideH: 2, depthMultiplier: 3, activation: 4, dilationW: 5, dilationH: 6 } as const;
export const Pool2DSlot = { padding: 0, strideW: 1, strideH: 2, filterW: 3, filterH: 4, activation: 5 } as const;
export const FullyConnectedSlot = { activation: 0, weightsFormat: 1, keepNumDims: 2 } as const;
export const SoftmaxSlot = { beta: 0 } as const;
export const ConcatenationSlot = { axis: 0, activation: 1 } as const;
export const AddSlot = { activation: 0 } as const;
export const MulSlot = { activation: 0 } as const;
export const ReshapeSlot = { newShape: 0 } as const;
export const ReducerSlot = { keepDims: 0 } as const;
export const SplitSlot = { numSplits: 0 } as const;

/** Model.metadata names readers look for. */
export const METADATA_NAME = 'TFLITE_METADATA';
export const MIN_RUNTIME_NAME = 'min_runtime_version';
