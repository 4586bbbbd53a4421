import { Worker } from 'node:worker_threads';

/**
 * mnext's own kernels on N threads: N − 1 worker threads instantiate the kernels (../simd) on the threaded
 * backend's shared heap, and a call hands each thread its slice of the work through a small control block.
 * The caller's thread computes slice 0 while the workers compute theirs, then waits for them
 * (Atomics.wait/notify, after a short spin: a kernel call is often a few hundred microseconds).
 * Slices write disjoint outputs, so a kernel's result does not depend on how many threads computed it.
 */

/** Arguments per call and thread: the widest kernel (the depthwise filter gradient) takes 18. */
const MAX_ARGS = 18;
/** Control words: [generation, workers still busy, kernel index, failed]. */
const GENERATION = 0;
const BUSY = 1;
const KERNEL = 2;
const FAILED = 3;
const CONTROL_WORDS = 4;
/** A thread with no slice this call: its first argument is NaN. */
const IDLE = Number.NaN;

export interface PoolModules {
  readonly kernels: WebAssembly.Module;
  readonly tile: WebAssembly.Module;
}

/**
 * The worker's whole program (an eval worker: no file to locate, and it runs the same from sources and from
 * dist). It instantiates the kernels as ../simd/index.ts does and serves calls until the process exits.
 */
const WORKER_SOURCE = `
const { workerData } = require('node:worker_threads');
const { memory, modules, control, args, names, index, threads, maxArgs, spinMs } = workerData;
const tile = new WebAssembly.Instance(modules.tile, { env: { memory } });
const kernels = new WebAssembly.Instance(modules.kernels, { env: { memory }, mnext: { gemm_tile4x8: tile.exports.gemm_tile4x8 } }).exports;
const fns = names.map((name) => kernels[name]);
const ctl = new Int32Array(control);
const argv = new Float64Array(args);
let seen = 0;
for (;;) {
  const deadline = performance.now() + spinMs;
  while (Atomics.load(ctl, ${GENERATION}) === seen && performance.now() < deadline) {}
  Atomics.wait(ctl, ${GENERATION}, seen);
  seen = Atomics.load(ctl, ${GENERATION});
  const base = index * maxArgs;
  try {
    if (!Number.isNaN(argv[base])) fns[ctl[${KERNEL}]](...argv.subarray(base, base + maxArgs));
  } catch (e) {
    Atomics.store(ctl, ${FAILED}, 1);
    require('node:fs').writeSync(2, 'mnext kernel thread ' + index + ': ' + (e && e.message) + '\\n');
  }
  if (Atomics.sub(ctl, ${BUSY}, 1) === 1) Atomics.notify(ctl, ${BUSY});
}
`;

export class KernelPool {
  private readonly control = new Int32Array(new SharedArrayBuffer(CONTROL_WORDS * 4));
  private readonly args: Float64Array;
  private readonly workers: Worker[] = [];

  /** `names`: the kernels' export names, in the order `run` indexes them. */
  constructor(
    readonly threads: number, memory: WebAssembly.Memory, modules: PoolModules, private readonly names: readonly string[],
    spinMs = 0.2,
  ) {
    this.args = new Float64Array(new SharedArrayBuffer(threads * MAX_ARGS * 8));
    for (let index = 1; index < threads; index++) {
      const worker = new Worker(WORKER_SOURCE, {
        eval: true,
        workerData: { memory, modules, control: this.control.buffer, args: this.args.buffer, names, index, threads, maxArgs: MAX_ARGS, spinMs },
      });
      // The workers serve calls for as long as the process lives, and never keep it alive.
      worker.unref();
      this.workers.push(worker);
    }
  }

  /**
   * Runs kernel `name` once per slice, slice t on thread t (fewer slices than threads leave the rest idle);
   * `local` runs slice 0 on this thread. Returns when every slice is done.
   */
  run(name: string, slices: readonly (readonly number[])[], local: (...args: number[]) => void): void {
    if (slices.length > this.threads) throw new Error(`${slices.length} slices for ${this.threads} threads`);
    if (slices.length === 0) return;
    if (slices.length === 1 || this.threads === 1) {
      for (const slice of slices) local(...slice);
      return;
    }
    const kernel = this.names.indexOf(name);
    if (kernel < 0) throw new Error(`kernel ${name} is not in the pool`);
    for (let t = 1; t < this.threads; t++) {
      const slice = slices[t];
      if (slice === undefined) this.args[t * MAX_ARGS] = IDLE;
      else this.args.set(slice, t * MAX_ARGS);
    }
    const ctl = this.control;
    ctl[KERNEL] = kernel;
    Atomics.store(ctl, BUSY, this.threads - 1);
    Atomics.add(ctl, GENERATION, 1);
    Atomics.notify(ctl, GENERATION);
    local(...slices[0]);
    for (let busy = Atomics.load(ctl, BUSY); busy !== 0; busy = Atomics.load(ctl, BUSY)) Atomics.wait(ctl, BUSY, busy, 1);
    if (Atomics.exchange(ctl, FAILED, 0) !== 0) throw new Error(`mnext's ${name} kernel failed on a worker thread`);
  }
}

/**
 * [start, end) ranges splitting `count` items into at most `parts` slices whose starts are multiples of
 * `align` (a GEMM's 4-row tiles, a SIMD vector), none smaller than `minimum` items.
 */
export function splitRange(count: number, parts: number, align: number, minimum = align): [number, number][] {
  const slices = Math.max(1, Math.min(parts, Math.floor(count / Math.max(minimum, 1))));
  const step = Math.ceil(count / slices / align) * align;
  const ranges: [number, number][] = [];
  for (let start = 0; start < count; start += step) ranges.push([start, Math.min(count, start + step)]);
  return ranges.length > 0 ? ranges : [[0, count]];
}
