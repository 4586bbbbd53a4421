/**
 * Top-1 agreement between a float and an int8 .tflite on a real image folder, run in LiteRT, plus both top-1s:
 * the issue-5 acceptance measurement for post-training quantization. `byMargin` splits the images by the float
 * model's top-1/top-2 logit margin: int8 noise flips the near-ties, so this shows how much of the disagreement a
 * more decisive model would avoid.
 *
 *   npx tsx scripts/int8-agreement.ts model.tflite model_int8.tflite data/fashion-mnist/val [--crop-pct 1] [--interpolation bilinear]
 *
 * .tflite files do not record the eval transform: pass the one the model was trained with (the recipes: crop 1,
 * bilinear).
 */
import { initBackend } from '../src/backend/index.js';
import { interpolation as interpolationFilter } from '../src/cli/options.js';
import { DEFAULT_INTERPOLATION, ImageLoader, normalizeBatch, openDataset } from '../src/data/index.js';
import { loadTfliteRunner } from '../src/runtimes/litert.js';

const [floatPath, int8Path, folder] = process.argv.slice(2);
const cropIndex = process.argv.indexOf('--crop-pct');
const cropPct = cropIndex > 0 ? Number(process.argv[cropIndex + 1]) : 1;
const filterIndex = process.argv.indexOf('--interpolation');
const interpolation = filterIndex > 0 ? interpolationFilter(process.argv[filterIndex + 1]) : DEFAULT_INTERPOLATION;
if (!floatPath || !int8Path || !folder) throw new Error('usage: int8-agreement.ts FLOAT.tflite INT8.tflite VAL_FOLDER [--crop-pct X] [--interpolation F]');

await initBackend();
const float = await loadTfliteRunner(floatPath);
const int8 = await loadTfliteRunner(int8Path);
const loader = new ImageLoader(openDataset(folder), { batchSize: 50, imageSize: float.inputSize, train: false, seed: 0, cropPct, interpolation });
const argmax = (logits: Float32Array, row: number, classes: number) => {
  let best = 0;
  for (let i = 1; i < classes; i += 1) if (logits[row * classes + i] > logits[row * classes + best]) best = i;
  return best;
};
let images = 0;
let agree = 0;
let floatCorrect = 0;
let int8Correct = 0;
const MARGIN_EDGES = [0.1, 0.3, 1, Infinity];
const byMargin = MARGIN_EDGES.map((below, i) => ({ margin: below === Infinity ? `>= ${MARGIN_EDGES[i - 1]}` : `< ${below}`, below, images: 0, disagree: 0 }));
const margin = (logits: Float32Array, row: number, classes: number) => {
  const sorted = Array.from(logits.subarray(row * classes, (row + 1) * classes)).sort((x, y) => y - x);
  return sorted[0] - sorted[1];
};
for await (const batch of loader.epoch(0)) {
  const x = normalizeBatch(batch, float.mean ?? [0.485, 0.456, 0.406], float.std ?? [0.229, 0.224, 0.225]);
  const input = x.dataSync() as Float32Array;
  x.dispose();
  const n = batch.labels.length;
  const [a, b] = [await float.run(input, n), await int8.run(input, n)];
  for (let i = 0; i < n; i += 1) {
    const [pa, pb] = [argmax(a, i, float.numClasses), argmax(b, i, int8.numClasses)];
    images += 1;
    const bucket = byMargin.find((b) => margin(a, i, float.numClasses) < b.below)!;
    bucket.images += 1;
    bucket.disagree += Number(pa !== pb);
    agree += Number(pa === pb);
    floatCorrect += Number(pa === batch.labels[i]);
    int8Correct += Number(pb === batch.labels[i]);
  }
}
await loader.close();
console.log(JSON.stringify({ images, agreement: agree / images, floatTop1: (100 * floatCorrect) / images, int8Top1: (100 * int8Correct) / images, byMargin: byMargin.map(({ margin, images: n, disagree }) => ({ margin, images: n, disagree })) }));
