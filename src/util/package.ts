import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The root folder of the installed mnext package (where package.json, configs/ and docs/ are). */
function findPackageRoot(): string {
  // Walk up from this module (src/util or dist/src/util) to the package root.
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i += 1) {
    const path = join(dir, 'package.json');
    if (existsSync(path) && (JSON.parse(readFileSync(path, 'utf8')) as { name?: string }).name === 'mnext') return dir;
    dir = dirname(dir);
  }
  throw new Error('mnext: package.json not found above the installed modules');
}

export const PACKAGE_ROOT = findPackageRoot();

/** The version of mnext, read from its package.json (recorded in converted files, printed by --version). */
export const MNEXT_VERSION: string = (JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
