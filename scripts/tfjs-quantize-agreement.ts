/**
 * Top-1 agreement of TF.js folders with compressed weights (`mnext convert --to tfjs --quantize float16|uint8`)
 * with the float32 folder of the same model, on every image of a validation folder, plus each one's top-1: the
 * issue-16 acceptance measurement. All run in tfjs on the same normalised batches, through the eval transform
 * the float folder's metadata records.
 *
 *   npx tsx scripts/tfjs-quantize-agreement.ts web_float32 web_float16 web_uint8 --data data/fashion-mnist/val
 */
import { initBackend } from '../src/backend/index.js';
import { openEvalData } from '../src/data/eval-data.js';
import { IMAGENET_MEAN, IMAGENET_STD } from '../src/data/index.js';
import { loadTfjsGraphRunner } from '../src/runtimes/tfjs.js';
import { argmaxRows } from '../src/util/metrics.js';

const args = process.argv.slice(2);
const dataIndex = args.indexOf('--data');
const folder = args[dataIndex + 1];
const [floatPath, ...quantizedPaths] = args.filter((_, i) => dataIndex < 0 || (i !== dataIndex && i !== dataIndex + 1));
if (dataIndex < 0 || !folder || !floatPath || quantizedPaths.length === 0) {
  throw new Error('usage: tfjs-quantize-agreement.ts FLOAT32_DIR QUANTIZED_DIR... --data VAL_FOLDER');
}

await initBackend(process.env.MNEXT_BACKEND);
const float = await loadTfjsGraphRunner(floatPath);
const quantized = await Promise.all(quantizedPaths.map((path) => loadTfjsGraphRunner(path)));
const data = openEvalData(folder, {
  batch: 100, imageSize: float.inputSize, mean: float.mean ?? IMAGENET_MEAN, std: float.std ?? IMAGENET_STD, cropPct: float.cropPct, interpolation: float.interpolation,
});
let images = 0;
let floatCorrect = 0;
const counts = quantized.map(() => ({ agree: 0, correct: 0 }));
for await (const { images: input, labels } of data.batches) {
  const n = labels.length;
  const reference = argmaxRows(await float.run(input, n), float.numClasses);
  floatCorrect += reference.filter((c, i) => c === labels[i]).length;
  for (const [q, runner] of quantized.entries()) {
    const predicted = argmaxRows(await runner.run(input, n), runner.numClasses);
    counts[q].agree += predicted.filter((c, i) => c === reference[i]).length;
    counts[q].correct += predicted.filter((c, i) => c === labels[i]).length;
  }
  images += n;
}
const percent = (count: number) => Number(((100 * count) / images).toFixed(2));
console.log(JSON.stringify({
  images,
  float32: { folder: floatPath, top1: percent(floatCorrect) },
  quantized: quantizedPaths.map((path, q) => ({ folder: path, agreement: percent(counts[q].agree), disagree: images - counts[q].agree, top1: percent(counts[q].correct) })),
}));
for (const runner of [float, ...quantized]) await runner.dispose();
