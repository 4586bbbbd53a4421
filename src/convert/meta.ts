import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { EvalTransform } from '../data/transforms.js';
import type { ModelSpec } from '../models/graph.js';

/**
 * What a converted file carries besides the network, so an app can use it as it is; the eval transform the model
 * was trained with (ONNX and TF.js files keep it, so `mnext eval` on them matches the checkpoint).
 */
export interface ModelFileMeta extends EvalTransform {
  /** Class names in label order, when known. */
  readonly classes?: readonly string[];
  /** Input normalisation on the 0..1 scale: x = (pixel / 255 - mean) / std. */
  readonly mean: readonly number[];
  readonly std: readonly number[];
}

function findPackageVersion(): string {
  // Walk up from this module (src/convert or dist/src/convert) to the package root.
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i += 1) {
    const path = join(dir, 'package.json');
    if (existsSync(path)) {
      const pkg = JSON.parse(readFileSync(path, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'mnext' && pkg.version) return pkg.version;
    }
    dir = dirname(dir);
  }
  return '0.0.0';
}

/** The mnext version recorded in converted files. */
export const MNEXT_VERSION = findPackageVersion();

/** The spec as a compact record for file metadata (so `mnext` can rebuild the description from a file). */
export function specRecord(spec: ModelSpec): string {
  return JSON.stringify(spec);
}
