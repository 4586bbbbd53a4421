import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, basename } from 'node:path';

/** Writes a file via a temp file in the same folder and a rename, so readers never see a half-written file. */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  mkdirSync(dirname(path), { recursive: true });
  const temp = join(dirname(path), `.tmp-${basename(path)}-${process.pid}-${Date.now()}`);
  try {
    writeFileSync(temp, data);
    renameSync(temp, path);
  } catch (error) {
    rmSync(temp, { force: true });
    throw error;
  }
}

/**
 * Replaces a whole directory atomically: `fill` writes into a temp sibling folder, which then takes the place
 * of `dir` (the old one is removed only after the new one is complete).
 */
export function writeDirAtomic(dir: string, fill: (tempDir: string) => void): void {
  const parent = dirname(dir);
  mkdirSync(parent, { recursive: true });
  const temp = join(parent, `.tmp-${basename(dir)}-${process.pid}-${Date.now()}`);
  const old = `${temp}-old`;
  mkdirSync(temp);
  try {
    fill(temp);
    let hadOld = false;
    try {
      renameSync(dir, old);
      hadOld = true;
    } catch {
      // no previous directory
    }
    renameSync(temp, dir);
    if (hadOld) rmSync(old, { recursive: true, force: true });
  } catch (error) {
    rmSync(temp, { recursive: true, force: true });
    throw error;
  }
}
