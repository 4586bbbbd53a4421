import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as vm from 'node:vm';
import type { CompiledModel, Tensor as LiteRtTensor } from '@litertjs/core';
import { InputError } from '../errors.js';
import { readTfliteInfo } from '../formats/tflite/metadata.js';
import { readTfliteShapes } from '../formats/tflite/read.js';
import { TensorType } from '../formats/tflite/schema.js';
import { loadOptionalPackage } from './optional-package.js';
import type { ModelRunner } from './runner.js';

/**
 * .tflite files on LiteRT (`@litertjs/core`: Google's TFLite runtime compiled to WebAssembly, XNNPACK CPU
 * kernels). LiteRT.js is written for browsers and workers; before it loads, Node needs the worker globals its
 * Emscripten glue expects: `self`, `importScripts` (run a script in this context), `require` and `__dirname`.
 */

type LiteRtModule = typeof import('@litertjs/core');

let loading: Promise<LiteRtModule> | undefined;

function wasmDirectory(): string {
  const require = createRequire(import.meta.url);
  return join(dirname(dirname(require.resolve('@litertjs/core'))), 'wasm');
}

function defineWorkerGlobals(wasmDir: string): void {
  const g = globalThis as Record<string, unknown>;
  g.self ??= globalThis;
  g.require ??= createRequire(join(wasmDir, 'index.js'));
  g.__dirname ??= wasmDir;
  g.importScripts ??= (...urls: string[]) => {
    for (const url of urls) {
      const path = url.startsWith('file:') ? new URL(url).pathname : url;
      vm.runInThisContext(readFileSync(path, 'utf8'), { filename: path });
    }
  };
}

/** LiteRT's own chatter (accelerator registration, delegate creation, no WebGPU in Node) — not for mnext's users. */
const RUNTIME_LOG = /^(INFO|WARNING): |^Created TensorFlow Lite XNNPACK delegate|^Failed to create default WebGPU device/;

/**
 * The Emscripten glue binds `console.error` when its script runs, so a filter installed for the duration of
 * the load stays in force for everything the runtime prints later; real errors still reach stderr.
 */
async function withQuietRuntimeLog<T>(load: () => Promise<T>): Promise<T> {
  const { error, warn } = console;
  const quiet = (print: (...args: unknown[]) => void) => (...args: unknown[]) => {
    if (typeof args[0] === 'string' && RUNTIME_LOG.test(args[0])) return;
    print(...args);
  };
  console.error = quiet(error);
  console.warn = quiet(warn);
  try {
    return await load();
  } finally {
    console.error = error;
    console.warn = warn;
  }
}

/** Loads the LiteRT wasm runtime once per process (an optional peer dependency). */
export function loadLiteRtRuntime(): Promise<LiteRtModule> {
  loading ??= withQuietRuntimeLog(async () => {
    // Locating the package's wasm folder is the first step that fails when LiteRT is not installed.
    const wasmDir = await loadOptionalPackage('@litertjs/core', 'running .tflite models', async () => wasmDirectory());
    defineWorkerGlobals(wasmDir);
    const litert = await import('@litertjs/core');
    await litert.loadLiteRt(`${wasmDir}/`);
    return litert;
  });
  return loading;
}

class LiteRtRunner implements ModelRunner {
  readonly runtime = 'tflite';
  readonly inputSize: number;
  readonly numClasses: number;
  readonly classes?: readonly string[];
  readonly mean?: readonly number[];
  readonly std?: readonly number[];
  /** The file's static batch; other batch sizes run as consecutive chunks of it. */
  readonly modelBatch: number;

  constructor(private readonly litert: LiteRtModule, private readonly model: CompiledModel, file: Uint8Array) {
    const { input, output } = readTfliteShapes(file);
    const info = readTfliteInfo(file);
    [this.modelBatch, this.inputSize] = input.shape;
    this.numClasses = output.shape[output.shape.length - 1];
    this.classes = info.classes;
    this.mean = info.mean;
    this.std = info.std;
  }

  private get inputShape(): number[] {
    return [this.modelBatch, this.inputSize, this.inputSize, 3];
  }

  private async runChunk(chunk: Float32Array): Promise<Float32Array> {
    const input = new this.litert.Tensor(Float32Array.from(chunk), this.inputShape);
    let outputs: LiteRtTensor[] = [];
    try {
      outputs = await this.model.run([input]);
      return Float32Array.from(outputs[0].toTypedArray() as Float32Array);
    } finally {
      input.delete();
      for (const t of outputs) t.delete();
    }
  }

  async run(input: Float32Array, batch: number): Promise<Float32Array> {
    const per = this.inputSize * this.inputSize * 3;
    if (input.length !== batch * per) throw new Error(`LiteRT runner: expected ${batch * per} input values, got ${input.length}`);
    const logits = new Float32Array(batch * this.numClasses);
    for (let start = 0; start < batch; start += this.modelBatch) {
      const count = Math.min(this.modelBatch, batch - start);
      const chunk = new Float32Array(this.modelBatch * per);
      chunk.set(input.subarray(start * per, (start + count) * per));
      const out = await this.runChunk(chunk);
      logits.set(out.subarray(0, count * this.numClasses), start * this.numClasses);
    }
    return logits;
  }

  dispose(): void {
    this.model.delete();
  }
}

/** A ModelRunner for a .tflite file (path or bytes) on LiteRT's CPU (wasm/XNNPACK) path. */
export async function loadTfliteRunner(source: string | Uint8Array): Promise<ModelRunner & { readonly modelBatch: number }> {
  let file: Uint8Array;
  try {
    file = typeof source === 'string' ? new Uint8Array(readFileSync(source)) : source;
  } catch (error) {
    throw new InputError(`cannot read ${String(source)}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  const where = typeof source === 'string' ? source : 'the .tflite data';
  let shapes: ReturnType<typeof readTfliteShapes>;
  try {
    shapes = readTfliteShapes(file);
  } catch (error) {
    throw new InputError(`${where} is not a readable .tflite file: ${(error as Error).message}`);
  }
  const { input, output } = shapes;
  if (input.type !== TensorType.FLOAT32 || output.type !== TensorType.FLOAT32) {
    throw new InputError(
      `${where} has int8 input/output tensors (written with --int8-io); LiteRT.js feeds only float32, int32 and uint8 tensors, ` +
      'so run it with the TFLite interpreter on the device, or convert without --int8-io to evaluate it here',
    );
  }
  const litert = await loadLiteRtRuntime();
  let model: CompiledModel;
  try {
    // LiteRT may keep a view of the bytes; hand it its own copy.
    model = await litert.loadAndCompile(file.slice(), { accelerator: 'wasm' });
  } catch (error) {
    throw new InputError(`LiteRT cannot load ${where}: ${(error as Error).message}`);
  }
  return new LiteRtRunner(litert, model, file);
}
