import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import { InputError, InterruptedError } from '../../src/errors.js';
import { buildProgram, reportError } from '../../src/cli/main.js';
import type { Output } from '../../src/cli/output.js';
import { runCli } from '../helpers.js';

/** Runs `mnext boom` on the real program with one more command that throws `error`, as execute() runs commands. */
async function runThrowing(error: unknown): Promise<{ code: number; stderr: string[] }> {
  const stderr: string[] = [];
  const output: Output = { out: () => {}, err: (text) => stderr.push(text) };
  const program = await buildProgram(output);
  program.command('boom').action(() => { throw error; });
  const code = await program.parseAsync(['node', 'mnext', 'boom']).then(() => 0, (e: unknown) => reportError(e, output));
  return { code, stderr };
}

describe('exit codes', () => {
  const debug = process.env.MNEXT_DEBUG;
  afterEach(() => {
    if (debug === undefined) delete process.env.MNEXT_DEBUG;
    else process.env.MNEXT_DEBUG = debug;
  });

  test('an error that is not an MnextError is an internal error: exit 3, one line, the stack only with MNEXT_DEBUG=1', async () => {
    delete process.env.MNEXT_DEBUG;
    const plain = await runThrowing(new TypeError('cannot read properties of undefined'));
    assert.equal(plain.code, 3);
    assert.equal(plain.stderr.length, 1);
    assert.match(plain.stderr[0], /^internal error: cannot read properties of undefined \(MNEXT_DEBUG=1 shows the stack\)$/);
    process.env.MNEXT_DEBUG = '1';
    const debugged = await runThrowing(new TypeError('cannot read properties of undefined'));
    assert.equal(debugged.code, 3);
    assert.match(debugged.stderr[0], /^internal error: TypeError: cannot read properties of undefined\n\s+at /);
  });

  test('user errors carry their own code: 2 bad input, 130 interrupted, 2 bad usage', async () => {
    delete process.env.MNEXT_DEBUG;
    assert.deepEqual(await runThrowing(new InputError('x.png is not an image')), { code: 2, stderr: ['error: x.png is not an image'] });
    assert.equal((await runThrowing(new InterruptedError('interrupted'))).code, 130);
    assert.equal((await runCli('convert', '--no-such-flag')).code, 2);
    assert.equal((await runCli('--version')).code, 0);
  });
});
