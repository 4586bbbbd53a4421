import { setFlagsFromString } from 'node:v8';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import {
  KERNELS_SHARED_WASM_BASE64, KERNELS_WASM_BASE64, TILE_BASELINE_SHARED_WASM_BASE64, TILE_BASELINE_WASM_BASE64,
  TILE_RELAXED_SHARED_WASM_BASE64, TILE_RELAXED_WASM_BASE64,
} from './kernels-wasm.js';
import { KernelPool, type PoolModules } from '../threads/pool.js';
import { parallelKernels } from '../threads/parallel-kernels.js';
import { type RunCalls, chunkedGradSums, chunkedMoments, filterGradCalls, weightGradCalls } from './reduction-chunks.js';
import { yieldXnnpackThreads } from '../threads/pthread-node.js';

/**
 * mnext's own WebAssembly SIMD kernels (kernels.c), instantiated on the tfjs wasm backend's memory so they
 * work on tensors in place. Arguments are byte offsets into that heap (`heapF32(...).byteOffset`); the
 * kernels allocate nothing, so the caller provides every output and scratch buffer through the backend.
 */
export interface SimdKernels {
  /** src [batch, rows, cols] -> dst [batch, cols, rows]; source rows [row0, row1) of each matrix only when given. */
  transpose(src: number, dst: number, batch: number, rows: number, cols: number, row0?: number, row1?: number): void;
  /** NHWC x -> patch matrix [N*OH*OW, KH*KW*C] (zeros over the padding). */
  im2col(x: number, cols: number, n: number, h: number, w: number, c: number, oh: number, ow: number, kh: number,
    kw: number, sh: number, sw: number, top: number, left: number): void;
  /**
   * c[rows, n] = Σ_j A(i, j)·b[j, n] over j < red, A(i, j) = a[i·aRow + j·aRed]: (aRow, aRed) = (red, 1) is a
   * plain product, (1, rows) multiplies by the transpose of an a stored [red, rows].
   */
  gemm(a: number, b: number, c: number, rows: number, red: number, n: number, aRow: number, aRed: number): void;
  /**
   * c[rows, n] = aᵀ·b for a stored [red, rows] and b [red, n] (a conv's weight gradient), summed over the chunks
   * of ./reduction-chunks.ts; `parts` is scratch for one partial product per chunk (unused with one chunk).
   */
  weightGrad(a: number, b: number, c: number, rows: number, red: number, n: number, parts: number): void;
  /** Columns [col0, col1) of gemm's product (col0 a multiple of 8; col1 one too, or n): bitwise those of the whole. */
  gemmColumns(a: number, b: number, c: number, rows: number, red: number, n: number, aRow: number, aRed: number, col0: number, col1: number): void;
  /**
   * Depthwise filter gradient [KH, KW, C, M] from x NHWC and dy [N, OH, OW, C*M], summed over the chunks of rows
   * of ./reduction-chunks.ts; `parts` is scratch for one partial gradient per chunk (unused with one chunk).
   */
  depthwiseFilterGrad(x: number, dy: number, dw: number, n: number, h: number, w: number, c: number, m: number,
    oh: number, ow: number, kh: number, kw: number, sh: number, sw: number, top: number, left: number, parts: number): void;
  /** out[i] = Σ_k parts[k·size + i] over the `count` parts, in order, for i in [i0, i1) (default [0, size)). */
  sumParts(parts: number, out: number, count: number, size: number, i0?: number, i1?: number): void;
  /**
   * Depthwise conv [N, OH, OW, C] of x NHWC with a [KH, KW, C, 1] filter (multiplier 1); output rows
   * [row0, row1) of the N*OH rows only when given.
   */
  depthwiseConv(x: number, filter: number, y: number, n: number, h: number, w: number, c: number, oh: number, ow: number,
    kh: number, kw: number, sh: number, sw: number, top: number, left: number, row0?: number, row1?: number): void;
  /** Depthwise input gradient [N, H, W, C] from dy [N, OH, OW, C*M] and the filter [KH, KW, C, M]. */
  depthwiseInputGrad(dy: number, filter: number, dx: number, n: number, h: number, w: number, c: number, m: number,
    oh: number, ow: number, kh: number, kw: number, sh: number, sw: number, top: number, left: number): void;
  /**
   * Per-channel mean and biased variance of x [rows, c], summed in the chunks of ./reduction-chunks.ts; acc is
   * scratch for statScratchDoubles(rows, c) doubles.
   */
  channelMoments(x: number, rows: number, c: number, acc: number, mean: number, variance: number): void;
  /** y = x*scale + shift per channel (clamped to [0, 6] when relu6 is 1). */
  channelAffine(x: number, y: number, rows: number, c: number, scale: number, shift: number, relu6: number): void;
  /**
   * Σg and Σg·(x − mean) per channel, g = dy, masked when relu6 is 1 where ReLU6 blocked the forward output
   * y = x*scale + shift (recomputed: y is not read); acc as above.
   */
  bnGradSums(dy: number, x: number, scale: number, shift: number, relu6: number, rows: number, c: number, mean: number,
    acc: number, sumG: number, sumGc: number): void;
  /**
   * One chunk of channelMoments: part (c doubles) = Σ (x − centre)^power over rows [row0, row1) (centre 0: none);
   * block: scratch for c floats.
   */
  channelSumPart(x: number, c: number, centre: number, power: number, part: number, block: number, row0: number, row1: number): void;
  /** One chunk of bnGradSums: part (2c doubles) = [Σg, Σg·(x − mean)] over rows [row0, row1); block: 2c floats of scratch. */
  bnGradSumPart(dy: number, x: number, scale: number, shift: number, relu6: number, c: number, mean: number, part: number,
    block: number, row0: number, row1: number): void;
  /** out[ch] = (Σ_k parts[k·stride + ch]) / divisor over `count` double partials, added in order. */
  finishParts(parts: number, count: number, stride: number, c: number, divisor: number, out: number): void;
  /** The forward's affine per channel: scale = γ/√(σ² + ε), shift = β − μ·scale (double arithmetic, rounded once). */
  bnAffine(gamma: number, beta: number, mean: number, variance: number, c: number, eps: number, scale: number, shift: number): void;
  /** bnGradApply's kg, kx, k0 and dγ per channel from bnGradSums' Σg and Σg·(x − mean) over `rows` rows. */
  bnGradCoefficients(gamma: number, mean: number, variance: number, sumG: number, sumGc: number, c: number, eps: number,
    rows: number, kg: number, kx: number, k0: number, dGamma: number): void;
  /** dx = kg·g + kx·x + k0 per channel, g as in bnGradSums. */
  bnGradApply(dy: number, x: number, scale: number, shift: number, relu6: number, rows: number, c: number, kg: number,
    kx: number, k0: number, dx: number): void;
  /** BN's running mean and variance after a step: mean·keep + batchMean·m and var·keep + batchVar·mUnbiased, into the outs. */
  bnRunningStats(mean: number, variance: number, batchMean: number, batchVariance: number, c: number, keep: number, m: number,
    mUnbiased: number, meanOut: number, varianceOut: number): void;
  /** One SGD-momentum step over `count` floats into pOut/bOut (torch.optim.SGD, coupled decay). */
  sgdMomentum(p: number, g: number, b: number, pOut: number, bOut: number, count: number, lr: number, momentum: number,
    decay: number, nesterov: number): void;
}

interface EmscriptenInstance {
  /** The single-threaded build's memory, which the module exports. */
  readonly asm?: { readonly memory?: WebAssembly.Memory };
  /** The threaded build's shared memory, which the glue creates and the module imports. */
  readonly wasmMemory?: WebAssembly.Memory;
}

/** Which GEMM tile the kernels run: relaxed SIMD's fused multiply-add, or baseline SIMD's mul + add. */
export type GemmTile = 'relaxed' | 'baseline';

const bytes = (base64: string): Uint8Array<ArrayBuffer> => new Uint8Array(Buffer.from(base64, 'base64'));
const compiled = new Map<string, WebAssembly.Module>();

function compile(name: string, base64: string): WebAssembly.Module {
  let module = compiled.get(name);
  if (module === undefined) {
    module = new WebAssembly.Module(bytes(base64));
    compiled.set(name, module);
  }
  return module;
}

let chosenTile: GemmTile | undefined;

/** Whether the relaxed tile validates, switching on Node 20's experimental flag if it does not at first. */
function relaxedSimdAvailable(): boolean {
  const relaxed = bytes(TILE_RELAXED_WASM_BASE64);
  if (WebAssembly.validate(relaxed)) return true;
  setFlagsFromString('--experimental-wasm-relaxed-simd');
  return WebAssembly.validate(relaxed);
}

/**
 * relaxed when the engine runs relaxed SIMD: Node 22+ does by default; Node 20's V8 has it behind
 * --experimental-wasm-relaxed-simd, which is switched on here (wasm features are read when a module compiles).
 * MNEXT_RELAXED_SIMD=0 keeps baseline SIMD.
 */
export function gemmTile(): GemmTile {
  if (chosenTile === undefined) {
    chosenTile = process.env.MNEXT_RELAXED_SIMD !== '0' && relaxedSimdAvailable() ? 'relaxed' : 'baseline';
  }
  return chosenTile;
}

/**
 * A kernel whose last two arguments, a range [start, end) of channels or rows, default to the whole of them:
 * its first `count` arguments are the rest, the number of channels or rows being argument `extent`.
 */
function wholeRangeByDefault(kernel: (...args: number[]) => void, count: number, extent: number): (...args: number[]) => void {
  return (...args) => kernel(...args.slice(0, count), args[count] ?? 0, args[count + 1] ?? args[extent]);
}

/** The compiled kernel and tile modules for a memory: the shared-memory build when the heap is shared. */
function kernelModules(memory: WebAssembly.Memory, tile: GemmTile): PoolModules {
  const shared = memory.buffer instanceof SharedArrayBuffer;
  const source = tile === 'relaxed'
    ? (shared ? TILE_RELAXED_SHARED_WASM_BASE64 : TILE_RELAXED_WASM_BASE64)
    : (shared ? TILE_BASELINE_SHARED_WASM_BASE64 : TILE_BASELINE_WASM_BASE64);
  return {
    kernels: shared ? compile('kernels-shared', KERNELS_SHARED_WASM_BASE64) : compile('kernels', KERNELS_WASM_BASE64),
    tile: compile(`tile-${tile}${shared ? '-shared' : ''}`, source),
  };
}

/** The kernels' export names, by SimdKernels method (the BN sums and the weight gradient are composed of chunk kernels, below). */
const EXPORTS: Record<Exclude<keyof SimdKernels, 'channelMoments' | 'bnGradSums' | 'weightGrad'>, string> = {
  transpose: 'transpose',
  im2col: 'im2col',
  gemm: 'gemm',
  gemmColumns: 'gemm_columns',
  depthwiseFilterGrad: 'depthwise_filter_grad',
  sumParts: 'sum_parts',
  depthwiseConv: 'depthwise_conv',
  depthwiseInputGrad: 'depthwise_input_grad',
  channelSumPart: 'channel_sum_part',
  finishParts: 'finish_parts',
  channelAffine: 'channel_affine',
  bnGradSumPart: 'bn_grad_sum_part',
  bnAffine: 'bn_affine',
  bnGradCoefficients: 'bn_grad_coefficients',
  bnGradApply: 'bn_grad_apply',
  bnRunningStats: 'bn_running_stats',
  sgdMomentum: 'sgd_momentum',
};

/**
 * The kernels on a memory, with the given GEMM tile (tests compare the two tiles), on `threads` threads when
 * the memory is shared (the caller's thread and threads − 1 workers, see ../threads/pool.ts).
 */
export function instantiateSimdKernels(memory: WebAssembly.Memory, tile: GemmTile = gemmTile(), threads = 1): SimdKernels {
  const modules = kernelModules(memory, tile);
  const tileInstance = new WebAssembly.Instance(modules.tile, { env: { memory } });
  const instance = new WebAssembly.Instance(modules.kernels, {
    env: { memory },
    mnext: { gemm_tile4x8: tileInstance.exports.gemm_tile4x8 },
  });
  const fn = instance.exports as Record<string, (...args: number[]) => void>;
  const one = Object.fromEntries(Object.entries(EXPORTS).map(([method, name]) => [method, fn[name]])) as unknown as SimdKernels;
  one.sumParts = wholeRangeByDefault(fn.sum_parts, 4, 3);
  one.depthwiseFilterGrad = (...args) => {
    const { calls, count, size } = filterGradCalls(...(args as Parameters<typeof filterGradCalls>));
    for (const call of calls) fn.depthwise_filter_grad(...call);
    if (count > 1) fn.sum_parts(args[16], args[2], count, size, 0, size);
  };
  one.weightGrad = (a, b, c, rows, red, n, parts) => {
    const { calls, count, size } = weightGradCalls(a, b, c, rows, red, n, parts);
    for (const call of calls) fn.gemm(...call);
    if (count > 1) fn.sum_parts(parts, c, count, size, 0, size);
  };
  const inOrder: RunCalls = (kernel, calls) => {
    for (const call of calls) fn[kernel](...call);
  };
  one.channelMoments = (...args) => chunkedMoments(inOrder, fn.finish_parts, ...args);
  one.bnGradSums = (...args) => chunkedGradSums(inOrder, fn.finish_parts, ...args);
  one.transpose = wholeRangeByDefault(fn.transpose, 5, 3);
  // The export takes no batch size, only the row range, which defaults to every output row.
  one.depthwiseConv = (x, filter, y, n, h, w, c, oh, ow, kh, kw, sh, sw, top, left, row0 = 0, row1 = n * oh) =>
    fn.depthwise_conv(x, filter, y, h, w, c, oh, ow, kh, kw, sh, sw, top, left, row0, row1);
  if (threads <= 1 || !(memory.buffer instanceof SharedArrayBuffer)) return one;
  const byName = new Map(Object.values(EXPORTS).map((name) => [name, fn[name]]));
  const pool = new KernelPool(threads, memory, modules, byName);
  const parallel = parallelKernels(one, pool);
  pools.set(parallel, pool);
  return parallel;
}

/** The thread pool of kernels instantiated on several threads. */
const pools = new WeakMap<SimdKernels, KernelPool>();

let instances = new WeakMap<BackendWasm, SimdKernels>();

/**
 * Kernels bound from now on run this GEMM tile (undefined: the default choice again); the training-parity
 * harness switches relaxed SIMD off this way to see what it changes.
 */
export function useGemmTile(tile: GemmTile | undefined): void {
  if (tile === 'relaxed' && !relaxedSimdAvailable()) throw new Error('relaxed SIMD is not available in this engine');
  chosenTile = tile;
  instances = new WeakMap();
}

/** The backend's WebAssembly.Memory (emscripten keeps the instance exports on `Module.asm`). */
function backendMemory(backend: BackendWasm): WebAssembly.Memory {
  const module = backend.wasm as unknown as EmscriptenInstance;
  const memory = module.asm?.memory ?? module.wasmMemory;
  if (!(memory instanceof WebAssembly.Memory)) throw new Error('the tfjs wasm backend does not expose its memory');
  return memory;
}

let kernelThreads = 1;

/** Threads mnext's kernels use on a shared heap, for backends whose kernels are instantiated after this call. */
export function setKernelThreads(threads: number): void {
  kernelThreads = threads;
}

/**
 * The kernels bound to this backend's heap (instantiated once per backend). On N threads, the first call
 * takes the cores from XNNPACK's pool: from then on mnext's kernels run the convs, of training and of the folded
 * inference graph, and XNNPACK only small ops (two pools spinning for the same cores slowed both).
 */
export function simdKernels(backend: BackendWasm): SimdKernels {
  let kernels = instances.get(backend);
  if (kernels === undefined) {
    const memory = backendMemory(backend);
    if (kernelThreads > 1 && memory.buffer instanceof SharedArrayBuffer) yieldXnnpackThreads(backend);
    kernels = instantiateSimdKernels(memory, gemmTile(), kernelThreads);
    instances.set(backend, kernels);
  }
  return kernels;
}

/** Threads mnext's kernels on this backend's heap run on (1 when they were instantiated on one). */
export function activeKernelThreads(backend: BackendWasm): number {
  return pools.get(simdKernels(backend))?.activeThreads ?? 1;
}

/** Runs mnext's kernels on this backend's heap on `threads` of their pool's threads from now on (see KernelPool). */
export function setActiveKernelThreads(backend: BackendWasm, threads: number): void {
  const pool = pools.get(simdKernels(backend));
  if (pool === undefined && threads !== 1) throw new Error(`mnext's kernels run on one thread here, not ${threads}`);
  if (pool !== undefined) pool.activeThreads = threads;
}
