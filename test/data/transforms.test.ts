import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { applyColourJitter, centreCropBox, centreFallbackBox, pyRound, randomResizedCropBox, resizeShorterSide } from '../../src/data/transforms.js';
import { Rng } from '../../src/util/random.js';
import { SYSTEM_PYTHON } from '../helpers.js';

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
});
