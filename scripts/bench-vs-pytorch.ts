/**
 * mnext against PyTorch on the same workloads, back to back: each round runs every workload on both sides,
 * alternating which goes first, and the table gives each side's median images per second over the rounds and
 * the median and range of the per-round ratio (ratios of back-to-back runs are what survives a busy machine).
 * mnext runs `mnext bench` with its defaults (the fastest arrangement of threads and replicas); PyTorch runs
 * scripts/bench-pytorch.py with --threads (default: the machine's cores).
 * `--replicas N` passes mnext an arrangement (N replicas sharing the cores) instead of probing for one.
 * The header names the BLAS library PyTorch loaded (bench-pytorch.py's `blas`), and a warning on stderr says
 * when it is the reference BLAS: Debian's python3-torch calls whatever `libblas.so.3` points at, and the
 * reference one made PyTorch's nn.Linear 32 % of a 32 px batch-128 training step here (OpenBLAS: 2 %).
 *   npx tsx scripts/bench-vs-pytorch.ts [--rounds 3] [--mode train|infer] [--workloads mobilenext:64:16,...] [--threads N]
 *     [--steps N] [--replicas N] [--json]
 */
import { spawnSync } from 'node:child_process';
import { availableParallelism, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { median } from '../src/util/stats.js';

const TRAIN_WORKLOADS = 'mobilenext:64:16,mobilenext:224:16,mobilenext:32:128,mobilenetv2:64:16,mobilenetv2:224:16,mobilenetv2:32:128';
const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' }, mode: { type: 'string', default: 'train' }, workloads: { type: 'string' },
    threads: { type: 'string', default: String(availableParallelism()) }, steps: { type: 'string' }, replicas: { type: 'string' },
    json: { type: 'boolean' },
  },
});
const root = fileURLToPath(new URL('..', import.meta.url));
const mode = values.mode!;
const workloads = (values.workloads ?? (mode === 'train' ? TRAIN_WORKLOADS : 'mobilenext:224:1,mobilenetv2:224:1')).split(',').map((w) => {
  const [model, size, batch] = w.split(':');
  return { model, size, batch };
});

function run(command: string, args: string[]): Record<string, unknown> {
  const result = spawnSync(command, args, { cwd: root, encoding: 'utf8', maxBuffer: 1 << 24 });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')}: ${result.stderr}`);
  return JSON.parse(result.stdout) as Record<string, unknown>;
}

type Workload = (typeof workloads)[number];
const steps = values.steps ? ['--steps', values.steps] : [];
const arrangement = values.replicas ? ['--replicas', values.replicas] : [];
const mnext = (w: Workload) => run(process.execPath, ['bin/mnext.js', 'bench', mode, '--model', w.model, '--img-size', w.size, '-b', w.batch, '--backend', 'wasm', ...steps, ...arrangement, '--json']);
const torch = (w: Workload) => run('/usr/bin/python3', ['scripts/bench-pytorch.py', mode, '--model', w.model, '--input-size', w.size, '--batch', w.batch, '--threads', values.threads!, ...steps]);

const samples = workloads.map(() => ({ mnext: [] as Record<string, unknown>[], torch: [] as Record<string, unknown>[] }));
const load: number[] = [];
for (let r = 0; r < Number(values.rounds); r++) {
  for (const [i, w] of workloads.entries()) {
    load.push(loadavg()[0]);
    if ((r + i) % 2 === 0) {
      samples[i].mnext.push(mnext(w));
      samples[i].torch.push(torch(w));
    } else {
      samples[i].torch.push(torch(w));
      samples[i].mnext.push(mnext(w));
    }
    process.stderr.write(`round ${r + 1}: ${w.model} ${w.size} px b${w.batch} done (load ${loadavg()[0].toFixed(1)})\n`);
  }
}
/** The BLAS libraries PyTorch's runs mapped (one, unless the system's changed during the run). */
const torchBlas = [...new Set(samples.flatMap((s) => s.torch.map((t) => String(t.blas))))].join(', ');
if (/reference/.test(torchBlas)) {
  process.stderr.write(`warning: PyTorch ran on the reference BLAS (${torchBlas}), under which its nn.Linear took 32 % of a 32 px batch-128 training step here (2 % with OpenBLAS); \`apt-get install libopenblas0-pthread\` points Debian's libblas.so.3 at OpenBLAS\n`);
}
const rows = workloads.map((w, i) => {
  const m = samples[i].mnext.map((s) => s.imgPerSec as number);
  const t = samples[i].torch.map((s) => s.imgPerSec as number);
  const ratios = m.map((v, k) => v / t[k]);
  const last = samples[i].mnext.at(-1)!;
  return {
    ...w, mnextImgPerSec: median(m), torchImgPerSec: median(t), ratio: median(ratios), ratioMin: Math.min(...ratios), ratioMax: Math.max(...ratios),
    mnextArrangement: `${last.workers} replica(s) x ${last.threads} thread(s)`, mnextMsPerStep: median(samples[i].mnext.map((s) => s.msPerStep as number)),
    torchMsPerStep: median(samples[i].torch.map((s) => s.msPerStep as number)),
  };
});
if (values.json) {
  console.log(JSON.stringify({ load: { min: Math.min(...load), max: Math.max(...load) }, torchBlas, rows }, null, 2));
} else {
  console.log(`load average (1 min) during the run: ${Math.min(...load).toFixed(1)}–${Math.max(...load).toFixed(1)} on ${availableParallelism()} cores`);
  console.log(`PyTorch's BLAS: ${torchBlas}`);
  console.log(`| ${mode} workload | mnext img/s (arrangement) | PyTorch img/s (${values.threads} threads) | ratio median (range) |`);
  console.log('|---|---:|---:|---:|');
  for (const r of rows) {
    console.log(`| ${r.model} ${r.size} px b${r.batch} | ${r.mnextImgPerSec.toFixed(1)} (${r.mnextArrangement}) | ${r.torchImgPerSec.toFixed(1)} | ${r.ratio.toFixed(2)}x (${r.ratioMin.toFixed(2)}–${r.ratioMax.toFixed(2)}) |`);
  }
}
