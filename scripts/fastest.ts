/**
 * Milliseconds of the fastest of `repeat` calls of `fn`, after one untimed warm-up call: the minimum is what a
 * kernel costs when nothing else interferes, so it stays steady on a busy machine.
 */
export function fastestMs(fn: () => void, repeat: number): number {
  fn();
  let best = Infinity;
  for (let i = 0; i < repeat; i++) {
    const start = performance.now();
    fn();
    best = Math.min(best, performance.now() - start);
  }
  return best;
}
