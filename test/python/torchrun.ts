import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { PYTHON_PACKAGE, TORCH_PYTHON } from '../io/torch/python.js';

/**
 * torchrun as the tests launch it: Debian's python3-torch installs /usr/bin/torchrun (the same launcher as
 * `python3 -m torch.distributed.run`); a torchrun on PATH next to another python3 with torch is used the same way.
 */
function findTorchrun(): string[] | undefined {
  if (!TORCH_PYTHON) return undefined;
  if (TORCH_PYTHON === '/usr/bin/python3' && existsSync('/usr/bin/torchrun')) return ['/usr/bin/torchrun'];
  return [TORCH_PYTHON, '-m', 'torch.distributed.run'];
}

/**
 * torch < 2.0 on Python >= 3.11 (Debian 12: torch 1.13.1, Python 3.11) cannot parse torchrun's default `--redirects 0`
 * (`Std.from_str('0')` returns None: Python 3.11's IntFlag no longer iterates the zero member), so the launch fails
 * with "'NoneType' object has no attribute 'get'". A mapping that names a local rank the launch does not have leaves
 * every real rank at "no redirect", which is the default, and parses on every torch.
 */
function needsRedirectWorkaround(python: string): boolean {
  const script = 'from torch.distributed.elastic.multiprocessing.api import Std; print(Std.from_str("0") is None)';
  return spawnSync(python, ['-c', script], { encoding: 'utf8' }).stdout.trim() === 'True';
}

const LAUNCHER = findTorchrun();
export const REDIRECT_WORKAROUND = TORCH_PYTHON && needsRedirectWorkaround(TORCH_PYTHON) ? ['--redirects', '9:0', '--tee', '9:0'] : [];

/**
 * `torchrun --rdzv_endpoint=localhost:0 (a free port) --nproc_per_node=N --monitor_interval=1 [workaround] -m mnext_torch.train args` (or another entry point, a script
 * that wraps the trainer), with python/ on the path.
 */
export function torchrunTrainer(
  processes: number, args: readonly string[], entry: readonly string[] = ['-m', 'mnext_torch.train'],
): { code: number | null; stdout: string; stderr: string; command: string[] } {
  if (!LAUNCHER) throw new Error('no torchrun');
  // --monitor_interval=1: torchrun notices finished workers within a second instead of five.
  // A rendezvous on a free port: --standalone is fixed to port 29400 in torch 1.13, so two launches at once collide.
  const rendezvous = ['--rdzv_backend=c10d', '--rdzv_endpoint=localhost:0', `--rdzv_id=${randomUUID()}`, '--nnodes=1'];
  const command = [...LAUNCHER, ...rendezvous, `--nproc_per_node=${processes}`, '--monitor_interval=1', ...REDIRECT_WORKAROUND, ...entry, ...args];
  const env = { ...process.env, PYTHONPATH: PYTHON_PACKAGE };
  const run = spawnSync(command[0], command.slice(1), { encoding: 'utf8', env, maxBuffer: 64 * 1024 * 1024 });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr, command };
}

/** stderr without torchrun's own banner (the OMP_NUM_THREADS notice) and failure report. */
export function trainerLines(stderr: string): string[] {
  return stderr.split('\n').filter((line) => /^mnext_torch\.train( \(rank \d+\))?: /.test(line) || /^(epoch|initial weights|classifier)/.test(line));
}
