import { mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { writeDirAtomic } from '../util/atomic.js';

/**
 * Builds a dataset folder asynchronously in a staging sibling, then swaps it into place with writeDirAtomic, so
 * an interrupted conversion never leaves a half-written dataset under the requested name.
 */
export async function fillDirAtomic(dir: string, fill: (staging: string) => Promise<void>): Promise<void> {
  const target = resolve(dir);
  mkdirSync(dirname(target), { recursive: true });
  const staging = mkdtempSync(join(dirname(target), `.staging-${basename(target)}-`));
  try {
    await fill(staging);
    writeDirAtomic(target, (temp) => {
      for (const name of readdirSync(staging)) renameSync(join(staging, name), join(temp, name));
    });
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}
