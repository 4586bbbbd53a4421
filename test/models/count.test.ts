import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createModelGraph } from '../../src/models/registry.js';
import { countModel } from '../../src/models/count.js';
import { sandglassHidden, sandglassType } from '../../src/models/mobilenext.js';

/**
 * Params and conv + linear MAdds of the official models (the official MXNet and torchvision's mobilenet_v2, batch 1;
 * BN, activations, pooling and adds not counted): a copy of the reference spec's reference.json.
 */
const REFERENCE_COUNTS = join(import.meta.dirname, 'reference-counts.json');

interface ReferenceRow { model: string; width: number; input_size: number; num_classes: number; params: number; madds: number }

test('params and MAdds equal the official models (reference-counts.json) for every row', () => {
  const rows = JSON.parse(readFileSync(REFERENCE_COUNTS, 'utf8')) as ReferenceRow[];
  assert.equal(rows.length, 20);
  for (const r of rows) {
    const stats = countModel(createModelGraph(r.model, { width: r.width, numClasses: r.num_classes, inputSize: r.input_size }));
    assert.equal(stats.params, r.params, `${r.model} w${r.width} @${r.input_size} params`);
    assert.equal(stats.madds, r.madds, `${r.model} w${r.width} @${r.input_size} madds`);
  }
});

test('mnext_mbv2_cfg per-block params, MAdds and spatial sizes match spec §1.2', () => {
  // [block, params, conv MAdds (M, 3 decimals), output spatial size]
  const table: [string, number, number, number][] = [
    ['stem', 928, 10.838, 112], ['features.1', 3680, 32.012, 56], ['features.2', 10672, 30.858, 56],
    ['features.3', 13312, 35.073, 28], ['features.4', 16960, 12.343, 28], ['features.5', 16960, 12.343, 28],
    ['features.6', 26880, 18.571, 14], ['features.7', 34656, 6.435, 14], ['features.9', 43904, 8.43, 14],
    ['features.10', 58496, 10.989, 14], ['features.13', 99840, 18.317, 7], ['features.14', 124608, 5.927, 7],
    ['features.17', 248000, 12.042, 7], ['features.18', 330560, 15.9, 7], ['features.20', 493536, 23.818, 7],
    ['head', 1281000, 1.28, 1000],
  ];
  const blocks = new Map(countModel(createModelGraph('mobilenext')).blocks.map((b) => [b.block, b]));
  for (const [name, params, madds, size] of table) {
    const b = blocks.get(name)!;
    assert.equal(b.params, params, `${name} params`);
    assert.equal(Number((b.madds / 1e6).toFixed(3)), madds, `${name} madds`);
    assert.equal(b.outputShape[0], size, `${name} output size`);
  }
  const graph = createModelGraph('mobilenext');
  assert.equal(graph.params.length, 372, '446 state_dict entries minus 74 num_batches_tracked');
});

test('channel and hidden widths per block follow spec §1.2 at every paper width', () => {
  // out(hidden) of blocks 1, 2, 3, 4, 6, 7, 9, 13, 14, 17, 18, 20 per width.
  const expected: Record<number, string> = {
    1.4: '136(24) 200(32) 272(48) 272(48) 400(64) 400(64) 536(96) 808(128) 808(128) 1344(224) 1344(224) 1792(304)',
    1.0: '96(16) 144(32) 192(32) 192(32) 288(48) 288(48) 384(64) 576(96) 576(96) 960(160) 960(160) 1280(208)',
    0.75: '72(12) 112(32) 144(32) 144(24) 216(48) 216(36) 288(48) 432(80) 432(72) 720(128) 720(120) 1280(208)',
    0.5: '48(8) 72(16) 96(16) 96(16) 144(32) 144(24) 192(32) 288(48) 288(48) 480(80) 480(80) 1280(208)',
    0.35: '32(8) 48(16) 64(16) 64(16) 104(32) 104(32) 136(32) 200(32) 200(32) 336(64) 336(56) 1280(208)',
  };
  for (const [width, row] of Object.entries(expected)) {
    const graph = createModelGraph('mobilenext', { width: Number(width) });
    const cells = [1, 2, 3, 4, 6, 7, 9, 13, 14, 17, 18, 20].map((i) => {
      const convs = graph.nodes.filter((n) => n.block === `features.${i}` && n.op === 'conv' && n.kernel[0] === 1);
      const [first, second] = convs as { outChannels: number }[];
      return `${second.outChannels}(${first.outChannels})`;
    });
    assert.equal(cells.join(' '), row, `width ${width}`);
  }
});

test('sandglass block types and the hidden-width floor follow the official rules', () => {
  assert.equal(sandglassType(32, 96, 2, 2, false), 'A');
  assert.equal(sandglassType(288, 384, 1, 6, false), 'B');
  assert.equal(sandglassType(144, 192, 2, 6, false), 'C');
  assert.equal(sandglassType(96, 144, 1, 6, true), 'D');
  assert.equal(sandglassType(192, 192, 1, 6, false), 'D');
  assert.equal(sandglassHidden(144, 144, 6), 24);
  assert.equal(sandglassHidden(96, 144, 6), 32, 'floored at make_divisible(ceil(144/6), 16)');
});

test('partial identity adds on the first C // k channels only in identity blocks', () => {
  const graph = createModelGraph('mobilenext', { tensorMultiplier: 3 });
  const adds = graph.nodes.filter((n) => n.op === 'add');
  assert.deepEqual(adds.map((n) => n.block), [4, 5, 7, 8, 10, 11, 12, 14, 15, 16, 18, 19].map((i) => `features.${i}`));
  for (const add of adds) assert.equal(add.op === 'add' && add.channels, Math.floor(add.shape[2] / 3));
});
