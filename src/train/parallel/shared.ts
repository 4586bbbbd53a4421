/**
 * The memory the replicas share: every replica's gradients side by side, the updated weights, and a barrier.
 * Gradients never pass through the main thread: each replica writes its shard's gradients into its own slot,
 * and after the first barrier replica r averages the parameters it owns (read from every slot), runs the
 * optimiser on them alone (ZeRO-1: each optimiser update happens once, not once per replica) and publishes the
 * new values; after the second barrier every replica copies the parameters it does not own. The weights stay
 * bit-identical across replicas because each parameter has exactly one writer.
 */

/** Where one trainable parameter lives in the flat buffers, and which replica updates it. */
export interface ParamSlice {
  readonly name: string;
  readonly offset: number;
  readonly size: number;
  readonly owner: number;
}

export interface SharedBuffers {
  /** workers × total floats: replica k's gradients at [k·total, (k+1)·total). */
  readonly grads: SharedArrayBuffer;
  /** total floats: the parameters after this step's update, written by their owners. */
  readonly weights: SharedArrayBuffer;
  /** Barrier words (see `Barrier`). */
  readonly control: SharedArrayBuffer;
  /**
   * Rank 0's variables that are not trained (BN running statistics), rewritten by rank 0 after every step, so the
   * main thread can read rank 0's whole state between steps without asking a worker.
   */
  readonly stats: SharedArrayBuffer;
}

/**
 * Gives each parameter an owner, largest first to the replica with the fewest floats so far (the classifier
 * alone is a third of MobileNeXt-1.0, so an in-order split would be lopsided), and lays the parameters out
 * grouped by owner so that each owner averages one contiguous range of the gradient slots.
 */
export function partitionParams(params: readonly (readonly [string, number])[], workers: number): ParamSlice[] {
  const load = new Array<number>(workers).fill(0);
  const owners = new Map<string, number>();
  for (const [name, size] of [...params].sort((a, b) => b[1] - a[1])) {
    const owner = load.indexOf(Math.min(...load));
    owners.set(name, owner);
    load[owner] += size;
  }
  const ownerStart = load.map((_, rank) => load.slice(0, rank).reduce((a, b) => a + b, 0));
  return params.map(([name, size]) => {
    const owner = owners.get(name)!;
    const slice = { name, offset: ownerStart[owner], size, owner };
    ownerStart[owner] += size;
    return slice;
  });
}

/** The [start, end) float range of the parameters `rank` owns (contiguous by construction). */
export function ownedRange(layout: readonly ParamSlice[], rank: number): [number, number] {
  const owned = layout.filter((p) => p.owner === rank);
  if (owned.length === 0) return [0, 0];
  return [Math.min(...owned.map((p) => p.offset)), Math.max(...owned.map((p) => p.offset + p.size))];
}

export function totalFloats(layout: readonly ParamSlice[]): number {
  return layout.reduce((sum, p) => sum + p.size, 0);
}

/** Entries laid out one after another, all with owner 0 (rank 0 writes the statistics buffer). */
export function sequentialLayout(entries: readonly (readonly [string, number])[]): ParamSlice[] {
  let offset = 0;
  return entries.map(([name, size]) => {
    const slice = { name, offset, size, owner: 0 };
    offset += size;
    return slice;
  });
}

export function allocateShared(layout: readonly ParamSlice[], workers: number, statsLayout: readonly ParamSlice[]): SharedBuffers {
  const total = totalFloats(layout);
  return {
    grads: new SharedArrayBuffer(4 * workers * total),
    weights: new SharedArrayBuffer(4 * total),
    control: new SharedArrayBuffer(4 * CONTROL_WORDS),
    stats: new SharedArrayBuffer(4 * totalFloats(statsLayout)),
  };
}

/** What a replica released by `Barrier.abort()` reports (the failing replica reports the cause). */
export const ABORTED_BY_ANOTHER_REPLICA = 'another training worker failed';

const ARRIVED = 0;
const GENERATION = 1;
const ABORTED = 2;
const CONTROL_WORDS = 3;
/** Upper bound of one sleep (ms); `abort()` and the last arrival notify, so this is only a safety net. */
const ABORT_POLL_MS = 500;

/**
 * A reusable barrier for the replicas (Atomics.wait/notify on shared words, no message round trips). The last
 * replica to arrive resets the count and bumps the generation; the others sleep until the generation moves.
 * Atomics give the ordering: plain writes to the shared buffers before `wait()` are visible to every replica
 * after it. A replica that fails calls `abort()` so the others stop waiting instead of hanging.
 */
export class Barrier {
  private readonly words: Int32Array;

  constructor(control: SharedArrayBuffer, private readonly parties: number) {
    this.words = new Int32Array(control);
  }

  wait(): void {
    this.throwIfAborted();
    const generation = Atomics.load(this.words, GENERATION);
    if (Atomics.add(this.words, ARRIVED, 1) === this.parties - 1) {
      Atomics.store(this.words, ARRIVED, 0);
      Atomics.add(this.words, GENERATION, 1);
      Atomics.notify(this.words, GENERATION);
      return;
    }
    while (Atomics.load(this.words, GENERATION) === generation) Atomics.wait(this.words, GENERATION, generation, ABORT_POLL_MS);
    // abort() also moves the generation to wake sleepers; they must not go on with half-written buffers.
    this.throwIfAborted();
  }

  private throwIfAborted(): void {
    if (Atomics.load(this.words, ABORTED) !== 0) throw new Error(ABORTED_BY_ANOTHER_REPLICA);
  }

  abort(): void {
    Atomics.store(this.words, ABORTED, 1);
    Atomics.add(this.words, GENERATION, 1);
    Atomics.notify(this.words, GENERATION);
  }
}
