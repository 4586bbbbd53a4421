/**
 * Intra-op scaling of the wasm backend: GEMM (mnext's, a MobileNeXt 1x1 conv's shape), depthwise forward
 * (XNNPACK), depthwise backward (mnext's input and filter gradients) and a whole training step (MobileNeXt-1.0,
 * 64 px, batch 16), each on 1 and on N threads. Each thread count runs in its own process (the backend's
 * thread count is fixed when it starts); rounds alternate the order, and the table gives the median time per
 * thread count and the median and range of the speed-up over the rounds:
 *   npx tsx scripts/bench-threads.ts [--threads 1,2] [--rounds 3] [--json]
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { backendThreads, initBackend, setThreads } from '../src/backend/index.js';
import { benchModel } from '../src/bench/model-bench.js';
import { fastestMs } from './fastest.js';
import { median } from '../src/util/stats.js';

const { values } = parseArgs({
  options: {
    threads: { type: 'string', default: '1,2' }, rounds: { type: 'string', default: '3' }, json: { type: 'boolean' },
    child: { type: 'string' }, repeat: { type: 'string', default: '15' },
  },
});

const fastest = (fn: () => void): number => fastestMs(fn, Number(values.repeat));

type Timings = Record<string, number>;

/** One process's measurements on `threads` threads. */
async function measure(threads: number): Promise<Timings> {
  setThreads(threads);
  await initBackend('wasm');
  if (backendThreads() !== threads) throw new Error(`the wasm backend started on ${backendThreads()} threads, not ${threads}`);
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
  const step = await benchModel({ mode: 'train', model: 'mobilenext', width: 1, inputSize: 64, batch: 16, workers: 1, threads, steps: 8, warmup: 2, numClasses: 1000 });
  timings['train step MobileNeXt-1.0 64px b16'] = step.msPerStep;
  return timings;
}

function runChild(threads: number): Timings {
  const script = fileURLToPath(import.meta.url);
  const result = spawnSync(process.execPath, [...process.execArgv, script, '--child', String(threads), '--repeat', values.repeat!], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`threads ${threads}: ${result.stderr}`);
  return JSON.parse(result.stdout) as Timings;
}

if (values.child !== undefined) {
  console.log(JSON.stringify(await measure(Number(values.child))));
} else {
  const counts = values.threads!.split(',').map(Number);
  const rounds: Record<number, Timings>[] = [];
  for (let r = 0; r < Number(values.rounds); r++) {
    const order = r % 2 === 0 ? counts : [...counts].reverse();
    const round: Record<number, Timings> = {};
    for (const t of order) {
      round[t] = runChild(t);
      process.stderr.write(`round ${r + 1}, ${t} thread(s) done\n`);
    }
    rounds.push(round);
  }
  const [base, ...more] = counts;
  const rows = Object.keys(rounds[0][base]).map((name) => {
    const ms = Object.fromEntries(counts.map((t) => [t, median(rounds.map((round) => round[t][name]))]));
    const speedups = Object.fromEntries(more.map((t) => {
      const ratios = rounds.map((round) => round[base][name] / round[t][name]);
      return [t, { median: median(ratios), min: Math.min(...ratios), max: Math.max(...ratios) }];
    }));
    return { name, ms, speedups };
  });
  if (values.json) {
    console.log(JSON.stringify(rows, null, 2));
  } else {
    console.log(`| workload | ${counts.map((t) => `${t} thread${t > 1 ? 's' : ''} (ms)`).join(' | ')} | ${more.map((t) => `speed-up ${t}/${base} (range)`).join(' | ')} |`);
    console.log(`|---|${counts.map(() => '---:').join('|')}|${more.map(() => '---:').join('|')}|`);
    for (const r of rows) {
      const speed = more.map((t) => `${r.speedups[t].median.toFixed(2)}x (${r.speedups[t].min.toFixed(2)}–${r.speedups[t].max.toFixed(2)})`);
      console.log(`| ${r.name} | ${counts.map((t) => r.ms[t].toFixed(2)).join(' | ')} | ${speed.join(' | ')} |`);
    }
  }
}
