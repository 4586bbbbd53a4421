import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { PickleError, PyDict, PyObject, PySet, PyTuple, type PyValue, decodeLong, unpickle } from '../../../src/io/torch/pickle.js';

/** Plain python3 (no torch needed) to produce pickles of every protocol. */
function pythonPickle(expression: string, protocol: number): Uint8Array {
  const script = `import pickle, sys, collections\nsys.stdout.buffer.write(pickle.dumps(${expression}, protocol=${protocol}))`;
  const result = spawnSync('python3', ['-c', script]);
  if (result.status !== 0) throw new Error(String(result.stderr));
  return new Uint8Array(result.stdout);
}

const HAVE_PYTHON = spawnSync('python3', ['-c', 'pass']).status === 0;

/** PyValue to plain JSON-ish data for deep comparison. */
function plain(value: PyValue): unknown {
  if (value instanceof PyDict) return Object.fromEntries([...value.map].map(([k, v]) => [String(k), plain(v)]));
  if (value instanceof PyTuple) return { tuple: value.items.map(plain) };
  if (value instanceof PySet) return { set: value.items.map(plain) };
  if (Array.isArray(value)) return value.map(plain);
  if (value instanceof Uint8Array) return { bytes: [...value] };
  return value;
}

const SAMPLE = `collections.OrderedDict([('a', 1), ('neg', -70000), ('big', 2**70), ('f', 1.5), ('s', 'héllo'),
  ('b', b'\\x00\\xff'), ('n', None), ('t', True), ('tup', (1, (2, 3), [4.0, 'x'])), ('set', {7}), ('empty', ())])`;
const EXPECTED = {
  a: 1, neg: -70000, big: 2n ** 70n, f: 1.5, s: 'héllo', b: { bytes: [0, 255] }, n: null, t: true,
  tup: { tuple: [1, { tuple: [2, 3] }, [4, 'x']] }, set: { set: [7] }, empty: { tuple: [] },
};

describe('safe unpickler', () => {
  for (const protocol of [0, 1, 2, 3, 4, 5]) {
    it(`rebuilds builtin containers and scalars, protocol ${protocol}`, { skip: !HAVE_PYTHON && 'python3 not installed' }, () => {
      const value = unpickle(pythonPickle(SAMPLE, protocol));
      assert.ok(value instanceof PyDict && value.ordered);
      assert.deepEqual(plain(value), EXPECTED);
    });
  }

  it('keeps shared references (memo) as the same object', { skip: !HAVE_PYTHON && 'python3 not installed' }, () => {
    const value = unpickle(pythonPickle('(lambda l: [l, l])([1, 2])', 2));
    assert.ok(Array.isArray(value));
    assert.equal(value[0], value[1]);
  });

  it('never runs os.system named through REDUCE: the call becomes an inert record', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mnext-pickle-'));
    const marker = join(dir, 'pwned');
    try {
      // protocol 0: GLOBAL os.system, MARK, STRING, TUPLE, REDUCE, STOP
      const proto0 = new TextEncoder().encode(`cos\nsystem\n(S'touch ${marker}'\ntR.`);
      // protocol 4: STACK_GLOBAL builtins.eval with a REDUCE, wrapped in a dict like a checkpoint entry
      const code = `__import__('os').system('touch ${marker}')`;
      const proto4 = Uint8Array.from([
        0x80, 4, 0x7d, // PROTO 4, EMPTY_DICT
        0x8c, 4, ...new TextEncoder().encode('args'),
        0x8c, 8, ...new TextEncoder().encode('builtins'), 0x8c, 4, ...new TextEncoder().encode('eval'), 0x93, // STACK_GLOBAL
        0x8c, code.length, ...new TextEncoder().encode(code), 0x85, 0x52, // TUPLE1, REDUCE
        0x73, 0x2e, // SETITEM, STOP
      ]);
      const call = unpickle(proto0);
      assert.ok(call instanceof PyObject);
      assert.equal(call.callable.qualifiedName, 'os.system');
      assert.deepEqual(call.args, [`touch ${marker}`]);
      const dict = unpickle(proto4);
      assert.ok(dict instanceof PyDict);
      const evalCall = dict.get('args');
      assert.ok(evalCall instanceof PyObject && evalCall.callable.qualifiedName === 'builtins.eval');
      assert.equal(existsSync(marker), false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reads a pickled argparse.Namespace as an opaque object with its state', { skip: !HAVE_PYTHON && 'python3 not installed' }, () => {
    const value = unpickle(pythonPickle('__import__("argparse").Namespace(lr=0.1, model="mnext")', 2));
    assert.ok(value instanceof PyObject);
    assert.equal(value.callable.qualifiedName, 'argparse.Namespace');
    assert.deepEqual(plain(value.state!), { lr: 0.1, model: 'mnext' });
  });

  it('reports truncated and malformed pickles with the byte offset', () => {
    const full = Uint8Array.from([0x80, 2, 0x58, 5, 0, 0, 0, 0x68, 0x65, 0x6c, 0x6c, 0x6f, 0x2e]);
    assert.equal(unpickle(full), 'hello');
    assert.throws(() => unpickle(full.subarray(0, 9)), (e: unknown) => e instanceof PickleError && /unexpected end of data/.test(e.message));
    assert.throws(() => unpickle(Uint8Array.from([0x80, 2, 0xff])), (e: unknown) => e instanceof PickleError && e.offset === 2);
    assert.throws(() => unpickle(Uint8Array.from([0x80, 2, 0x4b, 1, 0x51, 0x2e])), /persistent id/); // no persistent ids allowed
  });

  it('decodes two\'s-complement longs', () => {
    assert.equal(decodeLong(Uint8Array.from([0xff])), -1);
    assert.equal(decodeLong(Uint8Array.from([0x00, 0x80])), -32768);
    assert.equal(decodeLong(Uint8Array.from([0x00, 0x80, 0x00])), 32768);
    assert.equal(decodeLong(Uint8Array.from([0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19])), 0x1950a86a20f9469cfc6cn);
  });
});
