/**
 * Convert a model to TFLite, ONNX and TF.js, then load each file in its runtime and classify an image with it:
 *   npx tsx examples/convert.ts <checkpoint dir | .pth | model name> <image> [out dir]
 * convert() itself checks every file's logits against mnext's on a random batch (the max |Δ| printed).
 */
import { join } from 'node:path';
import { CONVERT_TARGETS, convert, loadModel } from 'mnext';

const [modelPath, image, outDir = '.'] = process.argv.slice(2);
if (modelPath === undefined || image === undefined) {
  console.error('usage: convert.ts <model> <image> [out dir]');
  process.exit(2);
}

const original = await loadModel(modelPath);
const [expected] = await original.classify(image, { topK: 1 });
console.log(`${modelPath} (mnext): ${expected.label} ${(100 * expected.probability).toFixed(2)}%`);
for (const target of CONVERT_TARGETS) {
  const report = await convert(original, { target, out: join(outDir, target === 'tfjs' ? 'model_tfjs' : `model.${target}`) });
  // .tflite files record labels and normalisation but not the eval crop and filter: pass the original's.
  const converted = await loadModel(report.out, { cropPct: original.cropPct, interpolation: original.interpolation });
  const [top] = await converted.classify(image, { topK: 1 });
  console.log(`${report.out} (${converted.runtime}, max |Δ| ${report.verification.maxAbsDiff.toExponential(1)}): ${top.label} ${(100 * top.probability).toFixed(2)}%`);
  await converted.dispose();
}
await original.dispose();
