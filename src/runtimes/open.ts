import { existsSync } from 'node:fs';
import { type ModelSource, type SourceOptions, loadModelSource } from '../io/model-source.js';
import type { ModelRunner } from './runner.js';
import { loadTfliteRunner } from './litert.js';
import { loadOnnxRunner } from './onnx.js';
import { isTfjsGraphModelDir, loadTfjsGraphRunner, sourceRunner } from './tfjs.js';

export interface OpenRunnerOptions extends SourceOptions {
  /** onnxruntime intra-op threads. */
  readonly threads?: number;
}

/** A model ready to run, and its description and weights when mnext's own engine runs it (what save and convert need). */
export interface OpenedModel {
  readonly runner: ModelRunner;
  readonly source?: ModelSource;
}

/**
 * A model path or name for eval, classify and the API's loadModel: an .onnx file (onnxruntime-node), a .tflite
 * file (LiteRT), a TF.js graph-model folder (tfjs-converter), or anything `loadModelSource` reads (checkpoint
 * dir, fixture, .pth, model name) on mnext's own tfjs inference path.
 */
export async function openModel(model: string, options: OpenRunnerOptions = {}): Promise<OpenedModel> {
  if (/\.onnx$/i.test(model) && existsSync(model)) return { runner: await loadOnnxRunner(model, { threads: options.threads }) };
  if (/\.tflite$/i.test(model) && existsSync(model)) return { runner: await loadTfliteRunner(model) };
  if (isTfjsGraphModelDir(model)) return { runner: await loadTfjsGraphRunner(model) };
  const source = await loadModelSource(model, options);
  return { runner: sourceRunner(source), source };
}
