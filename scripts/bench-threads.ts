/**
 * Intra-op scaling of the wasm backend: GEMM (mnext's, a MobileNeXt 1x1 conv's shape), depthwise forward and
 * backward (mnext's kernels) and whole training steps (forward, backward, SGD) of MobileNeXt-1.0 and
 * MobileNetV2-1.0 at issue 14's workloads, each on 1 and on N threads. Each thread count runs in its own process
 * (the backend's thread count is fixed when it starts); rounds alternate the order, and the table gives the
 * median time per thread count and the median and range of the speed-up over the rounds. A kernel's time is its
 * fastest call, a step's the median of its timed steps. Each process also reports the CPU other processes used
 * while it ran (in cores: anything above 0 on a 2-core machine is time the threads did not have), and a
 * training step's tensorsLeaked, which must be 0.
 *   npx tsx scripts/bench-threads.ts [--threads 1,2] [--rounds 3] [--models mobilenext,mobilenetv2]
 *     [--workloads 64x16,224x16,32x128] [--skip-kernels] [--json]
 * (`--workloads ''` measures the kernels only.)
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { backendThreads, initBackend, setThreads } from '../src/backend/index.js';
import { benchModel } from '../src/bench/model-bench.js';
import { fastestMs } from './fastest.js';
import { readFileSync } from 'node:fs';
import { median } from '../src/util/stats.js';

const { values } = parseArgs({
  options: {
    threads: { type: 'string', default: '1,2' }, rounds: { type: 'string', default: '3' }, json: { type: 'boolean' },
    models: { type: 'string', default: 'mobilenext,mobilenetv2' }, workloads: { type: 'string', default: '64x16,224x16,32x128' },
    'skip-kernels': { type: 'boolean' }, child: { type: 'string' }, repeat: { type: 'string', default: '15' },
  },
});

const fastest = (fn: () => void): number => fastestMs(fn, Number(values.repeat));

type Timings = Record<string, number>;

interface ChildResult {
  readonly timings: Timings;
  /** tensorsLeaked of each training step benchmark. */
  readonly leaked: Record<string, number>;
  /** CPU the rest of the machine used meanwhile, in cores. */
  readonly othersCores: number;
}

/** Timed steps per workload: enough for a steady median without making the 224 px rows minutes long. */
const STEPS: Record<number, number> = { 32: 5, 64: 12, 224: 4 };

/** Busy and total jiffies of the machine, and this process's own (every thread's) CPU jiffies. */
function cpuJiffies(): { busy: number; total: number; own: number } {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1, 9).map(Number);
  const idle = fields[3] + fields[4];
  const total = fields.reduce((a, b) => a + b, 0);
  // /proc/self/stat: fields after the parenthesised command name; utime and stime are the 12th and 13th.
  const self = readFileSync('/proc/self/stat', 'utf8');
  const after = self.slice(self.lastIndexOf(')') + 2).split(' ');
  return { busy: total - idle, total, own: Number(after[11]) + Number(after[12]) };
}

/** A training step's median time over its timed steps (per-step times from the benchmark's progress callback). */
async function trainStepMs(model: string, inputSize: number, batch: number, threads: number): Promise<{ ms: number; leaked: number }> {
  const stamps: number[] = [];
  const warmup = 2;
  const result = await benchModel({
    mode: 'train', model, width: 1, inputSize, batch, workers: 1, threads, steps: STEPS[inputSize] ?? 5, warmup, numClasses: 1000,
    onStep: (done) => { if (done >= warmup) stamps.push(performance.now()); },
  });
  return { ms: median(stamps.slice(1).map((t, i) => t - stamps[i])), leaked: result.tensorsLeaked };
}

/** One process's measurements on `threads` threads. */
async function measure(threads: number): Promise<ChildResult> {
  const start = cpuJiffies();
  setThreads(threads);
  await initBackend('wasm');
  if (backendThreads() !== threads) throw new Error(`the wasm backend started on ${backendThreads()} threads, not ${threads}`);
  const timings: Timings = values['skip-kernels'] ? {} : kernelTimings();
  const leaked: Record<string, number> = {};
  for (const model of values.models!.split(',').filter(Boolean)) {
    for (const workload of values.workloads!.split(',').filter(Boolean)) {
      const [inputSize, batch] = workload.split('x').map(Number);
      const name = `train step ${model}-1.0 ${inputSize} px b${batch}`;
      const step = await trainStepMs(model, inputSize, batch, threads);
      timings[name] = step.ms;
      leaked[name] = step.leaked;
    }
  }
  const end = cpuJiffies();
  // /proc/stat's first line sums every CPU: a share of it times the CPU count is a number of cores.
  const span = end.total - start.total;
  const othersCores = span > 0 ? ((end.busy - start.busy - (end.own - start.own)) / span) * cpuCount() : 0;
  return { timings, leaked, othersCores: Math.max(0, othersCores) };
}

function cpuCount(): number {
  return readFileSync('/proc/stat', 'utf8').split('\n').filter((line) => /^cpu\d/.test(line)).length;
}

function kernelTimings(): Timings {
  const x = tf.randomNormal([16, 32, 32, 96]) as tf.Tensor4D;
  const pointwise = tf.randomNormal([1, 1, 96, 192]) as tf.Tensor4D;
  const depthwise = tf.randomNormal([3, 3, 96, 1]) as tf.Tensor4D;
  const dy = tf.randomNormal([16, 32, 32, 96]) as tf.Tensor4D;
  const timings: Timings = {
    'GEMM 16384x96x192 (1x1 conv)': fastest(() => tf.conv2d(x, pointwise, 1, 'valid').dispose()),
    'depthwise 3x3 forward 16x32x32x96': fastest(() => tf.depthwiseConv2d(x, depthwise, 1, 'same').dispose()),
    'depthwise 3x3 backward (input + filter)': fastest(() => tf.tidy(() => {
      tf.engine().runKernel(tf.DepthwiseConv2dNativeBackpropInput, { dy, filter: depthwise }, { strides: 1, pad: 'same', dilations: 1, inputShape: x.shape });
      tf.engine().runKernel(tf.DepthwiseConv2dNativeBackpropFilter, { x, dy }, { strides: 1, pad: 'same', dilations: 1, filterShape: depthwise.shape });
    })),
  };
  tf.dispose([x, pointwise, depthwise, dy]);
  return timings;
}

function runChild(threads: number): ChildResult {
  const script = fileURLToPath(import.meta.url);
  const args = ['--child', String(threads), '--repeat', values.repeat!, '--models', values.models!, '--workloads', values.workloads!];
  if (values['skip-kernels']) args.push('--skip-kernels');
  const result = spawnSync(process.execPath, [...process.execArgv, script, ...args], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`threads ${threads}: ${result.stderr}`);
  return JSON.parse(result.stdout) as ChildResult;
}

if (values.child !== undefined) {
  console.log(JSON.stringify(await measure(Number(values.child))));
} else {
  const counts = values.threads!.split(',').map(Number);
  const rounds: Record<number, ChildResult>[] = [];
  for (let r = 0; r < Number(values.rounds); r++) {
    const order = r % 2 === 0 ? counts : [...counts].reverse();
    const round: Record<number, ChildResult> = {};
    for (const t of order) {
      round[t] = runChild(t);
      process.stderr.write(`round ${r + 1}, ${t} thread(s) done; other processes used ${round[t].othersCores.toFixed(2)} cores meanwhile\n`);
    }
    rounds.push(round);
  }
  const [base, ...more] = counts;
  const rows = Object.keys(rounds[0][base].timings).map((name) => {
    const ms = Object.fromEntries(counts.map((t) => [t, median(rounds.map((round) => round[t].timings[name]))]));
    const speedups = Object.fromEntries(more.map((t) => {
      const ratios = rounds.map((round) => round[base].timings[name] / round[t].timings[name]);
      return [t, { median: median(ratios), min: Math.min(...ratios), max: Math.max(...ratios) }];
    }));
    const leaked = Math.max(0, ...rounds.flatMap((round) => counts.map((t) => round[t].leaked[name] ?? 0)));
    return { name, ms, speedups, ...(name in rounds[0][base].leaked ? { tensorsLeaked: leaked } : {}) };
  });
  const othersCores = Math.max(...rounds.flatMap((round) => counts.map((t) => round[t].othersCores)));
  if (values.json) {
    console.log(JSON.stringify({ rows, othersCoresMax: othersCores }, null, 2));
  } else {
    console.log(`| workload | ${counts.map((t) => `${t} thread${t > 1 ? 's' : ''} (ms)`).join(' | ')} | ${more.map((t) => `speed-up ${t}/${base} (range)`).join(' | ')} |`);
    console.log(`|---|${counts.map(() => '---:').join('|')}|${more.map(() => '---:').join('|')}|`);
    for (const r of rows) {
      const speed = more.map((t) => `${r.speedups[t].median.toFixed(2)}x (${r.speedups[t].min.toFixed(2)}–${r.speedups[t].max.toFixed(2)})`);
      console.log(`| ${r.name} | ${counts.map((t) => r.ms[t].toFixed(2)).join(' | ')} | ${speed.join(' | ')} |`);
    }
    const leaks = rows.filter((r) => 'tensorsLeaked' in r).map((r) => r.tensorsLeaked);
    if (leaks.length > 0) console.log(`\ntensorsLeaked (most over every training row and round): ${Math.max(...leaks)}`);
    console.log(`other processes used at most ${othersCores.toFixed(2)} cores during a measurement`);
  }
}
