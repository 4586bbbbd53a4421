import { existsSync } from 'node:fs';
import { type SourceOptions, loadModelSource } from '../io/model-source.js';
import type { ModelRunner } from './runner.js';
import { loadTfliteRunner } from './litert.js';
import { loadOnnxRunner } from './onnx.js';
import { isTfjsGraphModelDir, loadTfjsGraphRunner, sourceRunner } from './tfjs.js';

export interface OpenRunnerOptions extends SourceOptions {
  /** onnxruntime intra-op threads. */
  readonly threads?: number;
}

/**
 * `--model` for eval: an .onnx file (onnxruntime-node), a .tflite file (LiteRT), a TF.js graph-model folder
 * (tfjs-converter), or anything `loadModelSource` reads (checkpoint dir, fixture, .pth, model name) on mnext's
 * own tfjs inference path.
 */
export async function openModelRunner(model: string, options: OpenRunnerOptions = {}): Promise<ModelRunner> {
  if (/\.onnx$/i.test(model) && existsSync(model)) return loadOnnxRunner(model, { threads: options.threads });
  if (/\.tflite$/i.test(model) && existsSync(model)) return loadTfliteRunner(model);
  if (isTfjsGraphModelDir(model)) return loadTfjsGraphRunner(model);
  return sourceRunner(await loadModelSource(model, options));
}
