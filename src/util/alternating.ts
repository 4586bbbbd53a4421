/**
 * Timing candidates against each other on a machine whose speed drifts (other processes, frequency, the OS's
 * scheduling): the candidates take turns in rounds (A B A B …), so a slow spell falls on every candidate
 * rather than on whichever ran then, and each is ranked by the median of its step times, which one stalled
 * step does not move. The order of turns is fixed; only how many rounds run depends on the times measured.
 */
import { median } from './stats.js';

/** Something timed a step at a time; `enter` runs before each of its turns (e.g. to switch a thread pool). */
export interface AlternatingCandidate {
  enter?(): void;
  /** Step `i` of this candidate (0, 1, 2, … over its turns). */
  step(i: number): Promise<unknown>;
}

export interface AlternatingLimits {
  /** Timed milliseconds each candidate must reach; rounds continue until every candidate has. */
  readonly budgetMs: number;
  /** Timed steps each candidate must reach, whatever the time. */
  readonly minSteps: number;
  /** A turn runs steps until this many milliseconds have passed (at least one step). */
  readonly turnMs: number;
  /** Rounds at most, even when the budget is not spent. */
  readonly maxRounds: number;
}

export interface AlternatingTiming {
  /** The median of the candidate's timed steps. */
  readonly msPerStep: number;
  readonly steps: number;
}

/**
 * Times `candidates` in rounds; each candidate's first step (in the first round) is an untimed warm-up. Returns
 * each candidate's median step time and number of timed steps, in the candidates' order.
 */
export async function timeAlternating(candidates: readonly AlternatingCandidate[], limits: AlternatingLimits): Promise<AlternatingTiming[]> {
  const times = candidates.map((): number[] => []);
  const next = candidates.map(() => 0);
  const spent = (t: readonly number[]) => t.length >= limits.minSteps && t.reduce((a, b) => a + b, 0) >= limits.budgetMs;
  for (let round = 0; round < limits.maxRounds && !(round > 0 && times.every(spent)); round++) {
    for (const [c, candidate] of candidates.entries()) {
      candidate.enter?.();
      if (round === 0) await candidate.step(next[c]++);
      const turnStart = performance.now();
      do {
        const start = performance.now();
        await candidate.step(next[c]++);
        times[c].push(performance.now() - start);
      } while (performance.now() - turnStart < limits.turnMs);
    }
  }
  return times.map((t) => ({ msPerStep: median(t), steps: t.length }));
}
