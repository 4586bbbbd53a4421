// @ts-check
/**
 * The demo page: loads the TF.js graph model on each backend the browser has, preprocesses an image exactly as
 * `mnext eval` does (preprocess.js) and shows the top-5 with the latency per backend. `?image=/images/NAME`
 * classifies that file and writes the result as JSON into #result (data-status="done" or "error"), for scripts.
 */
import { evalPixels, normalise } from './preprocess.js';
import { pilResize } from '/mnext/resample.js';

/** @type {any} the UMD bundles' global */
const tf = /** @type {any} */ (window).tf;

/** The backends shown, the first one available being the reference whose answer is the page's answer. */
const BACKENDS = ['wasm', 'webgl', 'webgpu'];
const WARM_RUNS = 5;
/** mnext's defaults for folders that predate the metadata. */
const DEFAULTS = { cropPct: 0.875, interpolation: 'bicubic', mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };

const $ = (/** @type {string} */ id) => /** @type {any} */ (document.getElementById(id));

/** @type {Map<string, any>} backend -> GraphModel */
const models = new Map();
/** @type {Map<string, string>} backend -> why it is unavailable */
const unavailable = new Map();
/** @type {{ inputSize: number, cropPct: number, interpolation: 'bilinear' | 'bicubic', mean: number[], std: number[], classes: string[], describe: string, version?: string }} */
let transform;

class NotAnImageError extends Error {}

function showMessage(/** @type {string | undefined} */ text) {
  $('message').hidden = !text;
  $('message').textContent = text ?? '';
}

/** The model's eval transform and labels from its metadata (model.json's userDefinedMetadata). */
function transformOf(model) {
  const meta = model.metadata ?? {};
  const inputSize = meta.inputSize ?? meta.spec?.inputSize ?? model.inputs[0].shape[1];
  const numClasses = meta.spec?.numClasses ?? model.outputs[0].shape[1];
  return {
    inputSize,
    cropPct: meta.cropPct ?? DEFAULTS.cropPct,
    interpolation: meta.interpolation ?? DEFAULTS.interpolation,
    mean: meta.mean ?? DEFAULTS.mean,
    std: meta.std ?? DEFAULTS.std,
    classes: meta.classes ?? Array.from({ length: numClasses }, (_, i) => `class ${i}`),
    describe: meta.spec ? `${meta.spec.arch} ${meta.spec.width}${meta.spec.tensorMultiplier > 1 ? ` k=${meta.spec.tensorMultiplier}` : ''}` : 'TF.js graph model',
    version: meta.mnextVersion,
  };
}

async function loadModels(url) {
  tf.wasm.setWasmPaths('/tfjs/');
  for (const name of BACKENDS) {
    try {
      if (!(await tf.setBackend(name))) throw new Error('not available in this browser');
      await tf.ready();
      models.set(name, await tf.loadGraphModel(url));
    } catch (error) {
      unavailable.set(name, error instanceof Error ? error.message : String(error));
    }
  }
  if (models.size === 0) throw new Error(`no tfjs backend could load the model (${[...unavailable].map(([b, why]) => `${b}: ${why}`).join('; ')})`);
}

/** Decoded RGBA pixels of an image file, as the browser's decoder gives them (no colour conversion). */
async function decode(/** @type {Blob} */ blob, /** @type {string} */ name) {
  if (blob.type && !blob.type.startsWith('image/')) throw new NotAnImageError(`${name} is not an image (${blob.type}); try a PNG or JPEG`);
  let bitmap;
  try {
    bitmap = await createImageBitmap(blob, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
  } catch {
    throw new NotAnImageError(`${name} is not an image this browser can decode`);
  }
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const context = /** @type {OffscreenCanvasRenderingContext2D} */ (canvas.getContext('2d', { willReadFrequently: true }));
  context.drawImage(bitmap, 0, 0);
  bitmap.close();
  return context.getImageData(0, 0, canvas.width, canvas.height);
}

function softmax(/** @type {number[]} */ logits) {
  const max = Math.max(...logits);
  const exps = logits.map((v) => Math.exp(v - max));
  const sum = exps.reduce((a, b) => a + b, 0);
  return exps.map((v) => v / sum);
}

function topK(/** @type {number[]} */ values, /** @type {number} */ k) {
  return values.map((v, i) => [v, i]).sort((a, b) => b[0] - a[0] || a[1] - b[1]).slice(0, k).map(([, i]) => i);
}

/** One forward pass on a backend: logits and wall time including the read-back. */
async function run(model, input, size) {
  const start = performance.now();
  const logits = tf.tidy(() => model.execute(tf.tensor4d(input, [1, size, size, 3])));
  const data = await logits.data();
  logits.dispose();
  return { logits: Array.from(data), ms: performance.now() - start };
}

/** The image through every backend: first run, the median of the warm runs, and the logits of the first run. */
async function runBackends(input) {
  const results = new Map();
  for (const [name, model] of models) {
    await tf.setBackend(name);
    const first = await run(model, input, transform.inputSize);
    const warm = [];
    for (let i = 0; i < WARM_RUNS; i += 1) warm.push((await run(model, input, transform.inputSize)).ms);
    warm.sort((a, b) => a - b);
    results.set(name, { logits: first.logits, firstMs: first.ms, warmMs: warm[Math.floor(WARM_RUNS / 2)] });
  }
  return results;
}

async function classify(/** @type {Blob} */ blob, /** @type {string} */ name) {
  const rgba = await decode(blob, name);
  const start = performance.now();
  const pixels = evalPixels(rgba, transform, pilResize);
  const input = normalise(pixels, transform.mean, transform.std);
  const preprocessMs = performance.now() - start;
  const results = await runBackends(input);
  const [reference, { logits }] = [...results][0];
  const probabilities = softmax(logits);
  const top5 = topK(probabilities, Math.min(5, probabilities.length)).map((index) => ({ label: transform.classes[index], index, probability: probabilities[index] }));
  render({ blob, name, pixels, top5, results, preprocessMs, width: rgba.width, height: rgba.height });
  return {
    image: name,
    backend: reference,
    top5,
    logits,
    backends: Object.fromEntries([...results].map(([b, r]) => [b, { firstMs: r.firstMs, warmMs: r.warmMs, top1: topK(r.logits, 1)[0], logits: r.logits }])),
    unavailable: Object.fromEntries(unavailable),
    preprocessMs,
  };
}

function renderModelView(/** @type {Uint8Array} */ pixels) {
  const size = transform.inputSize;
  const canvas = $('model-view');
  canvas.width = size;
  canvas.height = size;
  const image = new ImageData(size, size);
  for (let i = 0, j = 0; i < pixels.length; i += 3, j += 4) {
    image.data.set([pixels[i], pixels[i + 1], pixels[i + 2], 255], j);
  }
  canvas.getContext('2d').putImageData(image, 0, 0);
}

function render({ blob, name, pixels, top5, results, preprocessMs, width, height }) {
  $('views').hidden = false;
  const preview = $('preview');
  if (preview.src) URL.revokeObjectURL(preview.src);
  preview.src = URL.createObjectURL(blob);
  $('preview-caption').textContent = `${name} (${width}x${height})`;
  $('model-view-caption').textContent = `what the model sees (${transform.inputSize}x${transform.inputSize})`;
  renderModelView(pixels);
  $('top5').replaceChildren(...top5.map(({ label, probability }) => {
    const item = document.createElement('li');
    const bar = document.createElement('div');
    bar.className = 'bar';
    const fill = document.createElement('div');
    fill.style.width = `${(100 * probability).toFixed(1)}%`;
    bar.append(fill);
    const text = document.createElement('span');
    text.textContent = label;
    const prob = document.createElement('span');
    prob.className = 'prob';
    prob.textContent = `${(100 * probability).toFixed(2)} %`;
    item.append(text, bar, prob);
    return item;
  }));
  renderBackends(results);
  $('preprocess-note').textContent = `Preprocessing (${transform.interpolation} resize of the shorter side to ${Math.floor(transform.inputSize / transform.cropPct)}, ` +
    `centre crop ${transform.inputSize}, mean/std) took ${preprocessMs.toFixed(1)} ms in JS, the same arithmetic as mnext eval.`;
}

function renderBackends(/** @type {Map<string, any> | undefined} */ results) {
  const reference = results && topK([...results.values()][0].logits, 1)[0];
  $('backends').tBodies[0].replaceChildren(...BACKENDS.map((name) => {
    const row = document.createElement('tr');
    const result = results?.get(name);
    const cells = unavailable.has(name)
      ? [name, unavailable.get(name), '', '', '']
      : [name, tf.findBackend(name) ? 'ready' : '', result ? `${result.firstMs.toFixed(1)} ms` : '', result ? `${result.warmMs.toFixed(1)} ms` : '',
        result ? (topK(result.logits, 1)[0] === reference ? transform.classes[reference] : `differs: ${transform.classes[topK(result.logits, 1)[0]]}`) : ''];
    for (const [i, text] of cells.entries()) {
      const cell = document.createElement('td');
      cell.textContent = text;
      if (i >= 2) cell.className = 'num';
      if (unavailable.has(name) && i === 1) cell.className = 'off';
      row.append(cell);
    }
    return row;
  }));
}

/** Classifies from the page (drop, paste, pick, camera, gallery): errors become the message, never a throw. */
async function classifyOnPage(/** @type {Blob} */ blob, /** @type {string} */ name) {
  showMessage(undefined);
  try {
    await classify(blob, name);
  } catch (error) {
    showMessage(error instanceof NotAnImageError ? error.message : `Could not classify ${name}: ${error instanceof Error ? error.message : error}`);
  }
}

function wireInputs() {
  const drop = $('drop');
  $('file').addEventListener('change', () => {
    const file = $('file').files[0];
    if (file) classifyOnPage(file, file.name);
    $('file').value = '';
  });
  drop.addEventListener('dragover', (event) => {
    event.preventDefault();
    drop.classList.add('over');
  });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (event) => {
    event.preventDefault();
    drop.classList.remove('over');
    const file = event.dataTransfer?.files[0];
    if (file) classifyOnPage(file, file.name);
  });
  document.addEventListener('paste', (event) => {
    const file = [...(event.clipboardData?.files ?? [])][0];
    if (file) classifyOnPage(file, file.name || 'pasted image');
  });
  if (navigator.mediaDevices?.getUserMedia) wireCamera();
}

function wireCamera() {
  const video = $('camera');
  $('camera-start').hidden = false;
  $('camera-start').addEventListener('click', async () => {
    try {
      video.srcObject = await navigator.mediaDevices.getUserMedia({ video: true });
      await video.play();
      video.hidden = false;
      $('camera-capture').hidden = false;
    } catch (error) {
      showMessage(`The camera is not available: ${error instanceof Error ? error.message : error}`);
    }
  });
  $('camera-capture').addEventListener('click', async () => {
    const canvas = new OffscreenCanvas(video.videoWidth, video.videoHeight);
    canvas.getContext('2d').drawImage(video, 0, 0);
    await classifyOnPage(await canvas.convertToBlob({ type: 'image/png' }), 'camera frame');
  });
}

/** The metadata a web developer needs to feed the model, as the page uses it. */
function showModelDetails(url) {
  const fmt = (/** @type {number[]} */ values) => values.map((v) => v.toFixed(3)).join(', ');
  const rows = [
    ['model', `${transform.describe} (${url})`],
    ['input', `${transform.inputSize}x${transform.inputSize} RGB, NHWC float32`],
    ['eval resize', `shorter side to ${Math.floor(transform.inputSize / transform.cropPct)} px (${transform.interpolation}), centre crop ${transform.inputSize} (crop_pct ${transform.cropPct})`],
    ['normalise', `(pixel / 255 - mean) / std, mean ${fmt(transform.mean)}, std ${fmt(transform.std)}`],
    ['classes', transform.classes.join(', ')],
  ];
  $('model-details').replaceChildren(...rows.flatMap(([term, text]) => {
    const dt = document.createElement('dt');
    dt.textContent = term;
    const dd = document.createElement('dd');
    dd.textContent = text;
    return [dt, dd];
  }));
}

function showGallery(/** @type {string[]} */ images) {
  $('gallery-title').hidden = images.length === 0;
  $('gallery-title').textContent = `Images (${images.length}, click one)`;
  $('gallery').replaceChildren(...images.map((url) => {
    const image = document.createElement('img');
    image.src = url;
    image.alt = image.title = decodeURIComponent(url.split('/').pop() ?? url);
    image.loading = 'lazy';
    image.addEventListener('click', async () => classifyOnPage(await (await fetch(url)).blob(), image.title));
    return image;
  }));
}

/** ?image=URL: classify it and leave the result (or the error) as JSON in #result. */
async function classifyRequested(url) {
  const result = $('result');
  try {
    const response = await fetch(url);
    if (!response.ok) throw new NotAnImageError(`${url}: HTTP ${response.status}`);
    result.textContent = JSON.stringify(await classify(await response.blob(), decodeURIComponent(url.split('/').pop() ?? url)));
    result.dataset.status = 'done';
  } catch (error) {
    showMessage(error instanceof Error ? error.message : String(error));
    result.textContent = JSON.stringify({ error: error instanceof Error ? error.message : String(error) });
    result.dataset.status = 'error';
  }
}

async function main() {
  const config = await (await fetch('/config.json')).json();
  wireInputs();
  showGallery(config.images);
  try {
    await loadModels(config.model);
  } catch (error) {
    $('model-info').textContent = error instanceof Error ? error.message : String(error);
    $('result').textContent = JSON.stringify({ error: $('model-info').textContent });
    $('result').dataset.status = 'error';
    return;
  }
  transform = transformOf([...models.values()][0]);
  $('model-info').textContent = `${transform.describe}, ${transform.classes.length} classes, ${transform.inputSize}x${transform.inputSize} input` +
    `${transform.version ? `, converted by mnext ${transform.version}` : ''}; tfjs ${tf.version_core}`;
  renderBackends(undefined);
  showModelDetails(config.model);
  const requested = new URLSearchParams(location.search).get('image');
  if (requested) await classifyRequested(requested);
}

main();
