/**
 * mnext's public API: the one door for code that trains, evaluates, profiles and converts MobileNeXt and
 * MobileNetV2 classifiers. The CLI (src/cli) is a thin layer over exactly these calls; docs/api.md has examples.
 * Every call sets up the tfjs backend on first use (the first of tensorflow, wasm, cpu that loads, or `backend`),
 * and every error it throws is an MnextError carrying the exit code the CLI would return.
 */
export { CheckFailedError, InputError, InterruptedError, InvalidModelError, MnextError, UsageError, exitCodeOf } from './errors.js';
export { MNEXT_VERSION } from './util/package.js';
export { DEFAULT_CROP_PCT, DEFAULT_INTERPOLATION, IMAGENET_MEAN, IMAGENET_STD, INTERPOLATIONS, type Interpolation } from './data/constants.js';
export { BACKENDS, type BackendName, ensureBackend as useBackend } from './backend/index.js';

export { type ModelRequest, listModelNames as listModels } from './models/registry.js';
export { type ModelListing, describeModels } from './models/listing.js';
export type { ModelSpec } from './models/graph.js';
export {
  type Classification, type ClassifyOptions, type CreateModelOptions, type ImageInput, type LoadModelOptions, Model, type SaveOptions,
  createModel, loadModel,
} from './runtimes/model.js';

export { type ClassAccuracy, type EvalResult, type EvaluateOptions, type Evaluation, evaluate } from './eval/evaluate.js';
export { type ParityCheck, type ParityOptions, parity } from './eval/parity.js';
export { CONVERT_TARGETS, type ConvertModelOptions, type ConvertReport, type ConvertTarget, type VerificationReport, convert } from './convert/index.js';
export { type ProfileOptions, type ProfileRow, profile } from './profile/profile.js';
export { DEFAULT_DEMO_PORT, type DemoOptions, type DemoServer, startDemo } from './demo/server.js';

export { type TrainOptions, train } from './train/run.js';
export { type TrainConfig, resolveConfig } from './train/config.js';
export {
  DEFAULT_PARITY_FACTOR, type DifferenceFromWasm, PARITY_VARIANTS, type ParityVariant, type TrainParityOptions, type TrainParityReport, type VariantParity, reportParity, trainParity,
} from './train/parity.js';
export { listRecipes } from './train/recipes.js';
export type { BatchProgress, TrainResult } from './train/engine.js';
export type { Arrangement, PickedArrangement, ProbedArrangement } from './train/arrangement.js';
export type { SummaryRow } from './train/summary.js';
