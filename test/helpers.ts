import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { execute } from '../src/cli/main.js';
import type { Output } from '../src/cli/output.js';

/** Debian's python3 (python3-torch lives there, not in a pyenv interpreter that may shadow it on PATH). */
export const SYSTEM_PYTHON = '/usr/bin/python3';

/** Whether a top-level module is installed; finding it is instant where importing torch takes seconds. */
export function pythonHas(module: string): boolean {
  const script = `import importlib.util, sys; sys.exit(importlib.util.find_spec(${JSON.stringify(module)}) is None)`;
  return spawnSync(SYSTEM_PYTHON, ['-c', script], { stdio: 'ignore' }).status === 0;
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
