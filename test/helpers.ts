import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { spawnSync } from 'node:child_process';
import { execute } from '../src/cli/main.js';
import type { Output } from '../src/cli/output.js';

/** The parity fixtures made with the official PyTorch code (../shared/fixtures beside the repo). */
export const FIXTURES_DIR = resolve(import.meta.dirname, '..', '..', 'shared', 'fixtures');
export const SPEC_DIR = resolve(import.meta.dirname, '..', '..', 'shared', 'spec');
export const fixturesMissing = existsSync(FIXTURES_DIR) ? false : `parity fixtures not found at ${FIXTURES_DIR}`;
export const specMissing = existsSync(SPEC_DIR) ? false : `reference spec not found at ${SPEC_DIR}`;

/** Debian's python3 (python3-torch lives there, not in a pyenv interpreter that may shadow it on PATH). */
export const SYSTEM_PYTHON = '/usr/bin/python3';

export function pythonHas(module: string): boolean {
  return spawnSync(SYSTEM_PYTHON, ['-c', `import ${module}`], { stdio: 'ignore' }).status === 0;
}

export function tempDir(prefix = 'mnext-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Runs the CLI in-process and captures what it printed. */
export async function runCli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const output: Output = { out: (t) => { stdout += t.endsWith('\n') ? t : `${t}\n`; }, err: (t) => { stderr += t.endsWith('\n') ? t : `${t}\n`; } };
  const code = await execute(['node', 'mnext', ...args], output);
  return { code, stdout, stderr };
}
