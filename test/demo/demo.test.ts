import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type BrowserContext, type Page, chromium } from 'playwright-core';
import { initBackend } from '../../src/backend/index.js';
import { DEFAULT_FASHION_MNIST_DIR, convertFashionMnist } from '../../src/data/index.js';
import { normalizedPixels } from '../../src/data/batch-ops.js';
import { decodeImage } from '../../src/data/decode.js';
import { planEvalImage } from '../../src/data/transforms.js';
import { type DemoServer, InputError, loadModel, startDemo } from '../../src/index.js';
import { loadTfjsGraphRunner } from '../../src/runtimes/tfjs.js';
import { runCli, tempDir } from '../helpers.js';

/**
 * `mnext demo` in a real browser: Debian's chromium, headless, driven by playwright-core (no browser download),
 * classifies Fashion-MNIST PNGs through `?image=` with the converted trained checkpoint; the page's top-5 must be
 * Model.classify's and its wasm logits within 1e-3 of Node's wasm backend on the same folder. The screenshot is
 * kept as a test artefact in tmp/test-artifacts/ (git-ignored), or written to $MNEXT_DEMO_SCREENSHOT (docs/demo.png
 * is made that way).
 */

const ROOT = join(import.meta.dirname, '..', '..');
const CHROMIUM = '/usr/bin/chromium';
/** MobileNeXt-0.35 k=2 at 64 px, 87.65 % Fashion-MNIST top-1 (test/formats/tflite/fixtures/README.md). */
const CHECKPOINT = join(ROOT, 'test/formats/tflite/fixtures/fashion_mobilenext_035_k2');
const CHROMIUM_FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const LOGIT_TOLERANCE = 1e-3;
const SCREENSHOT = join(ROOT, 'tmp', 'test-artifacts', 'demo.png');
const CLASSES = ['0-tshirt-top', '1-trouser', '4-coat', '6-shirt', '9-ankle-boot'];

const missing = !existsSync(CHROMIUM) ? `${CHROMIUM} not found (apt-get install chromium)`
  : !existsSync(DEFAULT_FASHION_MNIST_DIR) ? `Fashion-MNIST not found at ${DEFAULT_FASHION_MNIST_DIR} (apt-get install dataset-fashion-mnist)` : false;

interface PageResult {
  image: string;
  backend: string;
  top5: { label: string; index: number; probability: number }[];
  logits: number[];
  backends: Record<string, { firstMs: number; warmMs: number; top1: number; logits: number[] }>;
}

const work = tempDir('mnext-demo-test-');
after(() => rmSync(work, { recursive: true, force: true }));

describe('mnext demo in headless Chromium', { skip: missing }, () => {
  const images = join(work, 'images');
  let demo: DemoServer;
  let context: BrowserContext;
  let page: Page;
  const profile = tempDir('mnext-chromium-');

  before(async () => {
    await initBackend('wasm');
    // One validation image of each of five classes (two the model is unsure about: coat, shirt), flat in one folder
    // as a user would point --images at. Each ?image= loads the page afresh (webgl compiles its shaders again), so
    // five keep the test short.
    const data = join(work, 'fashion-mnist');
    await convertFashionMnist(DEFAULT_FASHION_MNIST_DIR, data, { limitTrain: 10, limitVal: 10 });
    mkdirSync(images);
    for (const name of CLASSES) {
      for (const file of readdirSync(join(data, 'val', name))) copyFileSync(join(data, 'val', name, file), join(images, `${name}.png`));
    }
    // A sub-folder, as in a val folder of classes: the gallery lists it and ?image= serves it.
    mkdirSync(join(images, 'more'));
    copyFileSync(join(images, '1-trouser.png'), join(images, 'more', 'trouser 2.png'));
    demo = await startDemo(CHECKPOINT, { port: 0, images });
    // A fresh profile (--user-data-dir) per run: nothing from an earlier run or the machine's own Chromium.
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM, headless: true, args: CHROMIUM_FLAGS, viewport: { width: 1200, height: 720 },
    });
    page = context.pages()[0] ?? await context.newPage();
  });

  after(async () => {
    await context?.close();
    rmSync(profile, { recursive: true, force: true });
    await demo?.close();
  });

  async function classifyOnPage(name: string): Promise<PageResult> {
    await page.goto(`${demo.url}?image=/images/${encodeURIComponent(name)}`);
    const result = page.locator('#result[data-status]');
    await result.waitFor({ state: 'attached', timeout: 120_000 });
    const json = JSON.parse((await result.textContent()) ?? '{}') as PageResult & { error?: string };
    assert.equal(await result.getAttribute('data-status'), 'done', json.error);
    return json;
  }

  /** Node's logits for the file: mnext's eval transform, the served folder in tfjs on the wasm backend. */
  async function nodeLogits(path: string): Promise<Float32Array> {
    const runner = await loadTfjsGraphRunner(demo.modelDir);
    try {
      const size = runner.inputSize;
      const pixels = await decodeImage(path, (w, h) => planEvalImage(w, h, size, runner.cropPct!, runner.interpolation!), { maxPixels: 1e8 });
      return await runner.run(await normalizedPixels({ images: pixels, labels: new Int32Array(1), size, paths: [] }, runner.mean!, runner.std!), 1);
    } finally {
      await runner.dispose();
    }
  }

  test('the checkpoint was converted to a temporary TF.js folder, served with tfjs from the package', async () => {
    assert.equal(demo.conversion?.target, 'tfjs');
    assert.ok(existsSync(join(demo.modelDir, 'model.json')));
    for (const path of ['/', '/app.js', '/preprocess.js', '/tfjs/tf-core.min.js', '/tfjs/tf-backend-wasm.min.js', '/tfjs/tfjs-backend-wasm-simd.wasm', '/model/model.json']) {
      assert.equal((await fetch(new URL(path, demo.url))).status, 200, path);
    }
    const config = await (await fetch(new URL('/config.json', demo.url))).json() as { images: string[] };
    // Taken in turn from the folder and each sub-folder, so every class of a val folder shows.
    const [first, ...rest] = CLASSES.map((name) => `/images/${name}.png`);
    assert.deepEqual(config.images, [first, '/images/more/trouser%202.png', ...rest]);
    assert.equal((await fetch(new URL(config.images[1], demo.url))).status, 200);
    for (const path of ['/model/../../etc/passwd', '/model/%2e%2e/%2e%2e/etc/passwd', '/images/..%2f..%2fpackage.json', '/tfjs/package.json', '/nothing']) {
      assert.equal((await fetch(new URL(path, demo.url))).status, 404, path);
    }
  });

  test('?image= top-5 equals Model.classify; wasm logits within 1e-3 of Node\'s wasm backend', async (t) => {
    const model = await loadModel(CHECKPOINT);
    const names = CLASSES.map((name) => `${name}.png`);
    try {
      for (const name of names) {
        const result = await classifyOnPage(name);
        const expected = await model.classify(join(images, name));
        assert.equal(result.backend, 'wasm');
        assert.deepEqual(result.top5.map((c) => c.index), expected.map((c) => c.index), name);
        assert.deepEqual(result.top5.map((c) => c.label), expected.map((c) => c.label), name);
        for (const [i, c] of result.top5.entries()) assert.ok(Math.abs(c.probability - expected[i].probability) < 1e-4, `${name} ${c.label}`);
        const reference = await nodeLogits(join(images, name));
        const maxDiff = Math.max(...result.logits.map((v, i) => Math.abs(v - reference[i])));
        assert.ok(maxDiff <= LOGIT_TOLERANCE, `${name}: page logits differ from Node's by ${maxDiff}`);
        const others = Object.entries(result.backends).filter(([b]) => b !== 'wasm')
          .map(([b, r]) => `${b} max |Δ| ${Math.max(...r.logits.map((v, i) => Math.abs(v - reference[i]))).toExponential(1)}, warm ${r.warmMs.toFixed(1)} ms`);
        t.diagnostic(`${name}: ${result.top5[0].label} ${(100 * result.top5[0].probability).toFixed(1)} %, wasm max |Δ| ${maxDiff.toExponential(1)}, ` +
          `warm ${result.backends.wasm.warmMs.toFixed(1)} ms; ${others.join('; ') || 'no other backend'}`);
      }
    } finally {
      await model.dispose();
    }
  });

  test('screenshot of a classified coat (a model unsure enough to show a spread of classes)', async (t) => {
    const result = await classifyOnPage('4-coat.png');
    assert.equal(result.top5[0].label, '4-coat');
    const path = process.env.MNEXT_DEMO_SCREENSHOT ?? SCREENSHOT;
    mkdirSync(dirname(path), { recursive: true });
    await page.screenshot({ path });
    const png = readFileSync(path);
    assert.equal(png.subarray(1, 4).toString(), 'PNG');
    assert.ok(png.length > 10_000, 'the screenshot shows the page');
    t.diagnostic(`screenshot: ${path}`);
  });

  test('the snippet in the converted folder\'s README.md classifies an image with plain tfjs', async () => {
    const readme = readFileSync(join(demo.modelDir, 'README.md'), 'utf8');
    const snippet = /```js\n([\s\S]*?)```/.exec(readme)![1]
      // The bundles make tfjs the global `tf`; the folder is served under /model/.
      .replace("import * as tf from '@tensorflow/tfjs';\n", '')
      .replace("'./model.json'", "'/model/model.json'");
    // A page of the demo's origin with nothing but tfjs on it, as a web developer's own page would be.
    await page.goto(new URL('/blank', demo.url).href);
    for (const bundle of ['tf-core', 'tf-backend-cpu', 'tf-backend-webgl', 'tf-backend-wasm', 'tf-converter']) await page.addScriptTag({ url: `/tfjs/${bundle}.min.js` });
    const printed = new Promise<string>((done) => page.on('console', (message) => {
      if (message.type() === 'log') done(message.text());
    }));
    await page.evaluate(async (code) => {
      const image = new Image();
      image.src = '/images/1-trouser.png';
      await image.decode();
      document.body.replaceChildren(image);
      const AsyncFunction = Object.getPrototypeOf(async () => undefined).constructor as new (body: string) => () => Promise<void>;
      await new AsyncFunction(code)();
    }, snippet);
    const [label, probability] = (await printed).split(' ');
    assert.equal(label, '1-trouser');
    assert.ok(Number(probability) > 0.9 && Number(probability) <= 1, probability);
  });

  test('a file that is not an image gets a message on the page', async () => {
    await page.goto(demo.url);
    await page.locator('#model-info').filter({ hasText: 'classes' }).waitFor({ timeout: 120_000 });
    await page.setInputFiles('#file', { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('not an image') });
    await page.locator('#message').filter({ hasText: 'notes.txt is not an image (text/plain)' }).waitFor({ timeout: 10_000 });
    await page.setInputFiles('#file', { name: 'broken.png', mimeType: 'image/png', buffer: Buffer.from('not a png either') });
    await page.locator('#message').filter({ hasText: 'broken.png is not an image this browser can decode' }).waitFor({ timeout: 10_000 });
  });
});

describe('mnext demo refuses before serving', () => {
  test('a missing model: one line, exit 2', async () => {
    const result = await runCli('demo', '--model', join(work, 'no-such-model'), '--no-open', '--port', '0');
    assert.equal(result.code, 2);
    assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
    assert.match(result.stderr, /no-such-model/);
  });

  test('an unreadable TF.js folder: InputError naming it', async () => {
    const broken = join(work, 'broken_tfjs');
    mkdirSync(broken, { recursive: true });
    writeFileSync(join(broken, 'model.json'), JSON.stringify({ format: 'graph-model', modelTopology: { node: [] }, weightsManifest: [{ paths: ['group1-shard1of1.bin'], weights: [] }] }));
    await assert.rejects(startDemo(broken, { port: 0 }), (error: Error) => error instanceof InputError && /broken_tfjs/.test(error.message));
  });

  test('conversion options with a TF.js folder: exit 2 naming the option', async () => {
    const folder = join(work, 'small_tfjs');
    assert.equal((await runCli('convert', '--model', 'mobilenext_035', '--num-classes', '3', '--img-size', '32', '--to', 'tfjs', '--out', folder)).code, 0);
    for (const [flag, value] of [['--quantize', 'float16'], ['--img-size', '64']]) {
      const result = await runCli('demo', '--model', folder, flag, value, '--port', '0', '--no-open');
      assert.equal(result.code, 2);
      assert.match(result.stderr, new RegExp(`${flag} applies when a checkpoint is converted for the page`));
    }
  });

  test('a port in use: exit 2, and the temporary conversion is removed', async () => {
    const busy = createServer();
    await new Promise<void>((done) => busy.listen(0, '127.0.0.1', done));
    const port = (busy.address() as { port: number }).port;
    const before = new Set(readdirSync(dirname(work)).filter((n) => n.startsWith('mnext-demo-') && n !== work.split('/').pop()));
    try {
      const result = await runCli('demo', '--model', 'mobilenext_035', '--num-classes', '3', '--port', String(port), '--no-open');
      assert.equal(result.code, 2, result.stderr);
      assert.match(result.stderr, new RegExp(`--port ${port}: the port is in use`));
    } finally {
      busy.close();
    }
    const left = readdirSync(dirname(work)).filter((n) => n.startsWith('mnext-demo-') && n !== work.split('/').pop() && !before.has(n));
    assert.deepEqual(left, []);
  });
});
