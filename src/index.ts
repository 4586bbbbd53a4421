/**
 * mnext's public API: the one door for code that trains, evaluates, profiles and converts MobileNeXt and
 * MobileNetV2 classifiers (the CLI in src/cli is a thin layer over these calls).
 */
export { CheckFailedError, InputError, InterruptedError, InvalidModelError, MnextError, UsageError, exitCodeOf } from './errors.js';
export { MNEXT_VERSION } from './util/package.js';
export { DEFAULT_CROP_PCT, DEFAULT_INTERPOLATION, IMAGENET_MEAN, IMAGENET_STD, type Interpolation } from './data/constants.js';
export { type ModelRequest, listModelNames as listModels, resolveModelSpec } from './models/registry.js';
export type { ModelSpec } from './models/graph.js';
export { type ModelSource, type SourceOptions, loadModelSource } from './io/model-source.js';
export { type TrainConfig, resolveConfig } from './train/config.js';
export { type TrainEvents, type TrainOptions, type TrainResult, train } from './train/engine.js';
export { CONVERT_TARGETS, type ConvertOptions, type ConvertReport, type ConvertTarget, convertModel } from './convert/index.js';
