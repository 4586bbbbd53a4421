/**
 * Classify images with a trained model:
 *   npx tsx examples/classify.ts <checkpoint dir | .pth | .onnx | .tflite | TF.js dir> <image>...
 * Each image goes through the model's own eval transform (the resize, crop and normalisation `mnext eval` uses).
 */
import { MnextError, loadModel } from 'mnext';

const [modelPath, ...images] = process.argv.slice(2);
if (modelPath === undefined || images.length === 0) {
  console.error('usage: classify.ts <model> <image>...');
  process.exit(2);
}

try {
  const model = await loadModel(modelPath);
  try {
    const results = await model.classify(images, { topK: 3 });
    images.forEach((image, i) => {
      console.log(`${image}: ${results[i].map((c) => `${c.label} ${(100 * c.probability).toFixed(1)}%`).join(', ')}`);
    });
  } finally {
    await model.dispose();
  }
} catch (error) {
  // Every error mnext throws says what went wrong in one sentence and carries the CLI's exit code.
  if (!(error instanceof MnextError)) throw error;
  console.error(error.message);
  process.exitCode = error.exitCode;
}
