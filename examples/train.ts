/**
 * Train a small MobileNeXt on a synthetic dataset (generated when missing), then classify a validation image
 * with the best checkpoint:
 *   npx tsx examples/train.ts [data dir] [output dir]
 * Ctrl-C stops after the current step and saves a recovery checkpoint.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { loadModel, train } from 'mnext';

const [data = 'data/example', output = 'output'] = process.argv.slice(2);
const controller = new AbortController();
process.once('SIGINT', () => controller.abort());

// The bundled quickstart recipe, made smaller: 4 classes of 12 images, one epoch.
const result = await train('quickstart', {
  overrides: { data, output, num_classes: 4, synthetic_per_class: 12, batch_size: 8, epochs: 1, warmup_epochs: 0, workers: 2 },
  signal: controller.signal,
  onStart: ({ config, backend }) => console.log(`training ${config.model} on ${config.data} (${backend})`),
  onEpoch: (row) => console.log(`epoch ${row.epoch}: loss ${row.train_loss.toFixed(3)}, top-1 ${row.eval_top1.toFixed(1)}%`),
});
console.log(`best checkpoint: ${result.bestDir}`);

const [someClass] = readdirSync(join(data, 'val')).sort();
const image = join(data, 'val', someClass, readdirSync(join(data, 'val', someClass)).sort()[0]);
const model = await loadModel(result.bestDir);
const [top] = await model.classify(image, { topK: 1 });
console.log(`${image} (${someClass}): ${top.label} ${(100 * top.probability).toFixed(1)}%`);
await model.dispose();
