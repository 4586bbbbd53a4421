import { Worker } from 'node:worker_threads';

/**
 * mnext's own kernels on N threads: N − 1 worker threads instantiate the kernels (../simd) on the threaded
 * backend's shared heap. A call is a list of slices (each a kernel call on a disjoint part of the outputs);
 * every thread, the caller's included, claims slices one at a time until none is left, so a thread the OS
 * does not schedule (a busy machine) delays nothing: the others take its share. The caller then waits until
 * every claimed slice is done (Atomics.wait/notify, after a short spin: a call often takes well under a ms).
 * Slices compute their outputs exactly as one call over everything would, so results do not depend on how
 * many threads ran, or which thread ran which slice.
 */

/** Arguments per slice: the widest kernel (the depthwise filter gradient) takes 18. */
const MAX_ARGS = 18;
/** Slices per call at most (the claim word keeps the next slice's index in its low 8 bits). */
export const MAX_SLICES = 255;
/**
 * Control words. TICKET: (call number << 8) | next unclaimed slice, claimed by compare-and-swap, so a thread
 * still looking at a finished call cannot claim a slice of the next one. DONE: slices finished in this call.
 */
const TICKET = 0;
const DONE = 1;
const COUNT = 2;
const KERNEL = 3;
const FAILED = 4;
/** Threads that claim slices (the caller's included, workers by index): the others sleep through the calls. */
const ACTIVE = 5;
const CONTROL_WORDS = 6;

export interface PoolModules {
  readonly kernels: WebAssembly.Module;
  readonly tile: WebAssembly.Module;
}

/** Claims and runs slices of the current call until none is left (the same code runs on every thread). */
const CLAIM_LOOP = `
function work(ctl, argv, fns, maxArgs) {
  for (;;) {
    const ticket = Atomics.load(ctl, ${TICKET});
    const slice = ticket & 255;
    if (slice >= Atomics.load(ctl, ${COUNT})) return ticket;
    if (Atomics.compareExchange(ctl, ${TICKET}, ticket, ticket + 1) !== ticket) continue;
    try {
      fns[Atomics.load(ctl, ${KERNEL})](...argv.subarray(slice * maxArgs, (slice + 1) * maxArgs));
    } catch (e) {
      Atomics.store(ctl, ${FAILED}, 1);
    }
    if (Atomics.add(ctl, ${DONE}, 1) + 1 === Atomics.load(ctl, ${COUNT})) Atomics.notify(ctl, ${DONE});
  }
}
`;

/**
 * The worker's whole program (an eval worker: no file to locate, and it runs the same from sources and from
 * dist). It instantiates the kernels as ../simd/index.ts does and serves calls until the process exits.
 */
const WORKER_SOURCE = `
const { workerData } = require('node:worker_threads');
const { memory, modules, control, args, names, maxArgs, spinMs, index } = workerData;
const tile = new WebAssembly.Instance(modules.tile, { env: { memory } });
const kernels = new WebAssembly.Instance(modules.kernels, { env: { memory }, mnext: { gemm_tile4x8: tile.exports.gemm_tile4x8 } }).exports;
const fns = names.map((name) => kernels[name]);
const ctl = new Int32Array(control);
const argv = new Float64Array(args);
${CLAIM_LOOP}
for (;;) {
  const seen = index < Atomics.load(ctl, ${ACTIVE}) ? work(ctl, argv, fns, maxArgs) : Atomics.load(ctl, ${TICKET});
  const deadline = performance.now() + spinMs;
  while (Atomics.load(ctl, ${TICKET}) === seen && performance.now() < deadline) {}
  Atomics.wait(ctl, ${TICKET}, seen);
}
`;

const work = new Function(`${CLAIM_LOOP}; return work;`)() as (
  ctl: Int32Array, argv: Float64Array, fns: readonly ((...args: number[]) => void)[], maxArgs: number,
) => number;

export class KernelPool {
  private readonly control = new Int32Array(new SharedArrayBuffer(CONTROL_WORDS * 4));
  private readonly args = new Float64Array(new SharedArrayBuffer(MAX_SLICES * MAX_ARGS * 8));
  private readonly workers: Worker[] = [];
  private readonly names: readonly string[];
  private readonly fns: readonly ((...args: number[]) => void)[];
  private calls = 0;

  /** `kernels`: the kernel functions by export name, in this thread (the workers instantiate their own). */
  constructor(
    readonly threads: number, memory: WebAssembly.Memory, modules: PoolModules,
    private readonly kernels: ReadonlyMap<string, (...args: number[]) => void>, private readonly spinMs = 0.1,
  ) {
    const names = [...kernels.keys()];
    this.names = names;
    Atomics.store(this.control, ACTIVE, threads);
    this.fns = [...kernels.values()];
    for (let index = 1; index < threads; index++) {
      const worker = new Worker(WORKER_SOURCE, {
        eval: true,
        workerData: { memory, modules, control: this.control.buffer, args: this.args.buffer, names, maxArgs: MAX_ARGS, spinMs, index },
      });
      // The workers serve calls for as long as the process lives, and never keep it alive. A worker that fails
      // to start claims no slices: the other threads compute them (an unheard 'error' would end the process).
      worker.unref();
      worker.on('error', () => undefined);
      this.workers.push(worker);
    }
  }

  /** Threads that run the slices of a call (the caller's included), 1 to `threads`. */
  get activeThreads(): number {
    return Atomics.load(this.control, ACTIVE);
  }

  /**
   * Runs later calls on the first `count` threads only (the others sleep through them): an inference picks its
   * thread count this way without starting another pool. Not during a call.
   */
  set activeThreads(count: number) {
    if (!Number.isInteger(count) || count < 1 || count > this.threads) throw new Error(`the pool has ${this.threads} threads, not ${count}`);
    Atomics.store(this.control, ACTIVE, count);
  }

  /** Runs kernel `name` once per slice (argument lists), on the active threads; returns when all are done. */
  run(name: string, slices: readonly (readonly number[])[]): void {
    const fn = this.kernels.get(name);
    if (fn === undefined) throw new Error(`kernel ${name} is not in the pool`);
    if (slices.length > MAX_SLICES) throw new Error(`${slices.length} slices, at most ${MAX_SLICES}`);
    if (slices.length <= 1 || this.activeThreads === 1) {
      for (const slice of slices) fn(...slice);
      return;
    }
    const ctl = this.control;
    slices.forEach((slice, i) => this.args.set(slice, i * MAX_ARGS));
    Atomics.store(ctl, KERNEL, this.names.indexOf(name));
    Atomics.store(ctl, COUNT, slices.length);
    Atomics.store(ctl, DONE, 0);
    this.calls = (this.calls + 1) & 0xffffff;
    Atomics.store(ctl, TICKET, this.calls << 8);
    Atomics.notify(ctl, TICKET);
    work(ctl, this.args, this.fns, MAX_ARGS);
    // The others' last slices are often a few µs from done: poll first, as the workers do, since a sleep on
    // the futex costs a wake-up (tens of µs) on each of the hundreds of calls in a training step.
    const deadline = performance.now() + this.spinMs;
    while (Atomics.load(ctl, DONE) < slices.length && performance.now() < deadline) { /* poll */ }
    for (let done = Atomics.load(ctl, DONE); done < slices.length; done = Atomics.load(ctl, DONE)) Atomics.wait(ctl, DONE, done, 1);
    if (Atomics.exchange(ctl, FAILED, 0) !== 0) throw new Error(`mnext's ${name} kernel failed on one of its threads`);
  }
}

/**
 * [start, end) ranges splitting `count` items into at most `parts` slices whose starts are multiples of
 * `align` (a GEMM's 4-row tiles, a SIMD vector), none smaller than `minimum` items.
 */
export function splitRange(count: number, parts: number, align: number, minimum = align): [number, number][] {
  const slices = Math.max(1, Math.min(parts, MAX_SLICES, Math.floor(count / Math.max(minimum, 1))));
  const step = Math.ceil(count / slices / align) * align;
  const ranges: [number, number][] = [];
  for (let start = 0; start < count; start += step) ranges.push([start, Math.min(count, start + step)]);
  return ranges.length > 0 ? ranges : [[0, count]];
}
