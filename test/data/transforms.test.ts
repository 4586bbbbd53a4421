import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { flipAndJitter } from '../../src/data/colour-jitter.js';
import { applyColourJitter, centreCropBox, centreFallbackBox, pyRound, randomResizedCropBox, resizeShorterSide } from '../../src/data/transforms.js';
import { Rng } from '../../src/util/random.js';
import { SYSTEM_PYTHON, pythonHas } from '../helpers.js';

/**
 * The reference: timm's RandomResizedCropAndInterpolation.get_params and torchvision's Resize/CenterCrop size
 * arithmetic, run by Python with `random` replaced by the same uniform draws our Rng produced.
 */
const REFERENCE = String.raw`
import json, math, sys
cases = json.load(sys.stdin)
out = []
for case in cases:
    draws = iter(case["draws"])
    uniform = lambda a, b: a + (b - a) * next(draws)
    randint = lambda a, b: a + math.floor(next(draws) * (b - a + 1))
    width, height = case["width"], case["height"]
    scale, ratio = (0.08, 1.0), (3. / 4., 4. / 3.)
    area = width * height
    box = None
    for attempt in range(10):
        target_area = uniform(*scale) * area
        log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
        aspect_ratio = math.exp(uniform(*log_ratio))
        w = int(round(math.sqrt(target_area * aspect_ratio)))
        h = int(round(math.sqrt(target_area / aspect_ratio)))
        if w <= width and h <= height:
            i = randint(0, height - h)
            j = randint(0, width - w)
            box = [j, i, w, h]
            break
    if box is None:
        in_ratio = width / height
        if in_ratio < min(ratio):
            w = width; h = int(round(w / min(ratio)))
        elif in_ratio > max(ratio):
            h = height; w = int(round(h * max(ratio)))
        else:
            w = width; h = height
        box = [(width - w) // 2, (height - h) // 2, w, h]
    size = case["shorter"]
    short, long = (width, height) if width <= height else (height, width)
    new_short, new_long = size, int(size * long / short)
    resized = [new_short, new_long] if width <= height else [new_long, new_short]
    crop = case["crop"]
    centre = [int(round((resized[0] - crop) / 2.0)), int(round((resized[1] - crop) / 2.0))]
    out.append({"box": box, "resized": resized, "centre": centre})
print(json.dumps(out))
`;

/** An Rng that records its uniform draws so Python can replay them. */
class RecordingRng extends Rng {
  readonly draws: number[] = [];
  override next(): number {
    const value = super.next();
    this.draws.push(value);
    return value;
  }
}

describe('crop geometry', () => {
  it('agrees with the timm/torchvision computation for the same random draws', () => {
    const sizes: [number, number][] = [[500, 375], [375, 500], [224, 224], [1000, 120], [120, 1000], [37, 29], [2048, 1536], [257, 256]];
    const cases: { width: number; height: number; shorter: number; crop: number; draws: number[]; box: number[] }[] = [];
    for (const [width, height] of sizes) {
      for (let k = 0; k < 40; k += 1) {
        const rng = new RecordingRng(k * 7919 + width);
        // Tiny scales with extreme ratios exercise the fallback path too.
        const scale: [number, number] = k % 5 === 0 ? [0.99, 1] : [0.08, 1];
        const b = randomResizedCropBox(width, height, scale, [3 / 4, 4 / 3], rng);
        if (k % 5 === 0) continue;
        cases.push({ width, height, shorter: 256, crop: 224, draws: rng.draws, box: [b.left, b.top, b.width, b.height] });
      }
    }
    const result = spawnSync(SYSTEM_PYTHON, ['-c', REFERENCE], { input: JSON.stringify(cases), encoding: 'utf8' });
    assert.equal(result.status, 0, result.stderr);
    const reference = JSON.parse(result.stdout) as { box: number[]; resized: number[]; centre: number[] }[];
    cases.forEach((c, i) => {
      assert.deepEqual(c.box, reference[i].box, `crop for ${c.width}x${c.height} case ${i}`);
      const resized = resizeShorterSide(c.width, c.height, c.shorter);
      assert.deepEqual([resized.width, resized.height], reference[i].resized);
      const centre = centreCropBox(resized.width, resized.height, c.crop);
      assert.deepEqual([centre.left, centre.top], reference[i].centre);
    });
  });

  it('falls back to a centre crop with the ratio clamped', () => {
    assert.deepEqual(centreFallbackBox(1000, 100, [3 / 4, 4 / 3]), { left: 433, top: 0, width: 133, height: 100 });
    assert.deepEqual(centreFallbackBox(100, 1000, [3 / 4, 4 / 3]), { left: 0, top: 433, width: 100, height: 133 });
    assert.deepEqual(centreFallbackBox(300, 280, [3 / 4, 4 / 3]), { left: 0, top: 0, width: 300, height: 280 });
  });

  it('rounds half to even like Python', () => {
    assert.deepEqual([0.5, 1.5, 2.5, -1.5, 2.4999, 2.5001].map(pyRound), [0, 2, 2, -2, 2, 3]);
  });
});

describe('colour jitter', () => {
  const pixels = () => Uint8Array.from([10, 200, 30, 255, 255, 255, 0, 0, 0, 100, 100, 100]);

  it('brightness scales, contrast pulls to the mean grey, saturation to each pixel grey', () => {
    const bright = pixels();
    applyColourJitter(bright, { brightness: 1.5, contrast: 1, saturation: 1, order: [0] });
    assert.deepEqual([...bright], [15, 255, 45, 255, 255, 255, 0, 0, 0, 150, 150, 150]);
    const flat = pixels();
    applyColourJitter(flat, { brightness: 1, contrast: 0, saturation: 1, order: [1] });
    assert.equal(new Set(flat).size, 1, 'contrast 0 leaves only the mean grey');
    const grey = pixels();
    applyColourJitter(grey, { brightness: 1, contrast: 1, saturation: 0, order: [2] });
    assert.deepEqual([...grey.slice(0, 3)], [124, 124, 124], 'saturation 0 gives L = 0.299R + 0.587G + 0.114B');
    const same = pixels();
    applyColourJitter(same, { brightness: 1, contrast: 1, saturation: 1, order: [2, 0, 1] });
    assert.deepEqual(same, pixels());
  });

  it('flips rows (odd and even widths) with or without jitter', () => {
    const image = pixels();
    assert.deepEqual([...flipAndJitter(image, 2, true, undefined)], [255, 255, 255, 10, 200, 30, 100, 100, 100, 0, 0, 0]);
    assert.deepEqual([...flipAndJitter(image, 4, true, undefined)], [100, 100, 100, 0, 0, 0, 255, 255, 255, 10, 200, 30]);
    const odd = Uint8Array.from({ length: 3 * 3 * 2 }, (_, i) => i);
    assert.deepEqual([...flipAndJitter(odd, 3, true, undefined)], [6, 7, 8, 3, 4, 5, 0, 1, 2, 15, 16, 17, 12, 13, 14, 9, 10, 11]);
    assert.equal(flipAndJitter(image, 4, false, undefined), image, 'nothing to do returns the same array');
    const bright = flipAndJitter(pixels(), 4, true, { brightness: 1.5, contrast: 1, saturation: 1, order: [0] });
    assert.deepEqual([...bright], [150, 150, 150, 0, 0, 0, 255, 255, 255, 15, 255, 45]);
  });

  /**
   * torchvision's ColorJitter on a PIL image is F.adjust_brightness/contrast/saturation in the sampled order
   * (ImageEnhance blends in float32, truncated to uint8). Random images (with 0 and 255 runs to hit the clipping)
   * under every op order, single ops, and factors at and around the edges of the 0.4 range; every other case
   * flipped first (RandomHorizontalFlip comes before ColorJitter), which flipAndJitter fuses into its last pass.
   */
  const PIL_JITTER = String.raw`
import json, sys
from PIL import Image
try:
    from torchvision.transforms import functional as F
    ops = [F.adjust_brightness, F.adjust_contrast, F.adjust_saturation]
except ImportError:
    from PIL import ImageEnhance
    ops = [lambda im, f: ImageEnhance.Brightness(im).enhance(f), lambda im, f: ImageEnhance.Contrast(im).enhance(f),
           lambda im, f: ImageEnhance.Color(im).enhance(f)]
out = []
for case in json.load(sys.stdin):
    image = Image.frombytes('RGB', (case['width'], case['height']), bytes(case['pixels']))
    if case['flip']:
        image = image.transpose(Image.FLIP_LEFT_RIGHT)
    factors = [case['brightness'], case['contrast'], case['saturation']]
    for op in case['order']:
        image = ops[op](image, factors[op])
    out.append(list(image.tobytes()))
print(json.dumps(out))
`;

  it('matches PIL ImageEnhance (torchvision ColorJitter) bit for bit', { skip: pythonHas('PIL') ? false : 'python3-pil is not installed' }, () => {
    const rng = new Rng(2024);
    const orders = [[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0], [0], [1], [2], [2, 2, 1]];
    const factorSets = [[0.6, 1.4, 0.6], [1.4, 0.6, 1.4], [0, 0, 0], [1, 1, 1], [1.3999999, 0.6000001, 1.0000001]];
    const cases: { width: number; height: number; pixels: number[]; brightness: number; contrast: number; saturation: number; order: number[]; flip: boolean }[] = [];
    for (let k = 0; k < 60; k += 1) {
      const width = 5 + (k % 7) * 4;
      const height = 3 + (k % 5) * 3;
      const pixels = Array.from({ length: width * height * 3 }, (_, i) => {
        const region = Math.floor(i / 30) % 4;
        return region === 0 ? 0 : region === 1 ? 255 : Math.floor(rng.next() * 256);
      });
      const fixed = factorSets[k % factorSets.length];
      const [brightness, contrast, saturation] = k < 2 * factorSets.length ? fixed : [0, 0, 0].map(() => rng.uniform(0.6, 1.4));
      cases.push({ width, height, pixels, brightness, contrast, saturation, order: orders[k % orders.length], flip: k % 2 === 1 });
    }
    const result = spawnSync(SYSTEM_PYTHON, ['-c', PIL_JITTER], { input: JSON.stringify(cases), encoding: 'utf8', maxBuffer: 1 << 26 });
    assert.equal(result.status, 0, result.stderr);
    const reference = JSON.parse(result.stdout) as number[][];
    cases.forEach((c, i) => {
      const pixels = Uint8Array.from(c.pixels);
      const label = `case ${i}: order ${c.order.join(',')}, factors ${c.brightness} ${c.contrast} ${c.saturation}, flip ${c.flip}`;
      if (c.flip) {
        assert.deepEqual([...flipAndJitter(pixels, c.width, true, c)], reference[i], label);
      } else {
        applyColourJitter(pixels, c);
        assert.deepEqual([...pixels], reference[i], label);
      }
    });
  });
});
