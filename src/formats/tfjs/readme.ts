import type { TfjsModelMetadata } from './writer.js';
import type { TfjsQuantization } from './weights.js';

/** The README.md of a converted folder: what the model is, and the few lines a web page needs to classify with it. */
export function tfjsModelReadme(meta: TfjsModelMetadata, quantize: TfjsQuantization | undefined): string {
  const { spec } = meta;
  const classes = meta.classes ? `${meta.classes.length} classes (${meta.classes.slice(0, 5).join(', ')}${meta.classes.length > 5 ? ', …' : ''})` : `${spec.numClasses} classes (unnamed)`;
  return `# ${spec.arch} ${spec.width} — TF.js graph model

Written by mnext ${meta.mnextVersion}${quantize ? ` with ${quantize} weights` : ''}: ${classes}, input ${meta.inputSize}x${meta.inputSize} RGB, NHWC.
\`model.metadata\` (model.json's userDefinedMetadata) holds the labels and the eval transform: resize the shorter side
to floor(inputSize / cropPct) = ${Math.floor(meta.inputSize! / meta.cropPct!)} px (${meta.interpolation}), centre-crop ${meta.inputSize}, then
(pixel / 255 - mean) / std with mean ${JSON.stringify(meta.mean)} and std ${JSON.stringify(meta.std)}.

Serve this folder next to your page and classify an \`<img>\` with \`@tensorflow/tfjs\`:

\`\`\`js
import * as tf from '@tensorflow/tfjs';
await tf.ready();
const model = await tf.loadGraphModel('./model.json');
const { inputSize, cropPct, mean, std, classes } = model.metadata;
const probs = tf.tidy(() => {
  const img = tf.cast(tf.browser.fromPixels(document.querySelector('img')), 'float32');
  const [h, w] = img.shape, short = Math.floor(inputSize / cropPct);
  const size = h <= w ? [short, Math.floor((short * w) / h)] : [Math.floor((short * h) / w), short];
  const resized = tf.image.resizeBilinear(img, size, false, true);
  const top = Math.round((resized.shape[0] - inputSize) / 2), left = Math.round((resized.shape[1] - inputSize) / 2);
  const x = tf.div(tf.sub(tf.div(tf.slice(resized, [top, left, 0], [inputSize, inputSize, 3]), 255), mean), std);
  return tf.softmax(model.predict(tf.expandDims(x, 0))).dataSync();
});
const best = probs.indexOf(Math.max(...probs)); console.log(classes?.[best] ?? best, probs[best]);
\`\`\`

\`tf.image.resizeBilinear\` is close to, not the same as, the resize mnext evaluates with (libvips through sharp);
\`mnext demo --model <this folder>\` serves a page whose preprocessing matches \`mnext eval\` exactly.
`;
}
