import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

// Shared by the PyTorch interop tests: a python3 that can `import torch`, with the twin's package importable.
/** The PyTorch twin's package folder (python/mnext_torch), put on PYTHONPATH for every script run here. */
export const PYTHON_PACKAGE = join(dirname(fileURLToPath(import.meta.url)), '../../../python');
/** Strict-loads mnext exports into the twin's models and runs them (see the script's docstring). */
export const RUN_TWIN = join(dirname(fileURLToPath(import.meta.url)), 'run_twin.py');
const PYTHON_ENV = { ...process.env, PYTHONPATH: [PYTHON_PACKAGE, process.env.PYTHONPATH].filter(Boolean).join(':') };

function canImportTorch(python: string): boolean {
  const result = spawnSync(python, ['-c', 'import torch, torchvision, yaml'], { encoding: 'utf8' });
  return result.status === 0;
}

/** $MNEXT_PYTHON, then python3 on PATH, then Debian's /usr/bin/python3 (python3-torch lives there). */
export const TORCH_PYTHON: string | undefined = [process.env.MNEXT_PYTHON, 'python3', '/usr/bin/python3']
  .filter((p): p is string => p !== undefined && p !== '')
  .find(canImportTorch);

export const SKIP_NO_TORCH = TORCH_PYTHON ? false : 'python3-torch / python3-torchvision / python3-yaml not installed (apt-get install python3-torch python3-torchvision python3-yaml)';

/** Runs a python script with torch; returns stdout, throws with stderr on failure. */
export function runTorchPython(script: string, args: readonly string[] = []): string {
  if (!TORCH_PYTHON) throw new Error('no python3 with torch');
  const result = spawnSync(TORCH_PYTHON, ['-c', script, ...args], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, env: PYTHON_ENV });
  if (result.status !== 0) throw new Error(`python failed (${result.status}): ${result.stderr}`);
  return result.stdout;
}

export function runPythonFile(file: string, args: readonly string[]): string {
  if (!TORCH_PYTHON) throw new Error('no python3 with torch');
  const result = spawnSync(TORCH_PYTHON, [file, ...args], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, env: PYTHON_ENV });
  if (result.status !== 0) throw new Error(`python ${file} failed (${result.status}): ${result.stderr}`);
  return result.stdout;
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let max = 0;
  for (let i = 0; i < a.length; i += 1) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}
