import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { timeAlternating } from '../../src/util/alternating.js';

/** A candidate whose steps take `ms` each, logging its turns and steps to `log`. */
function sleeper(name: string, ms: number, log: string[]) {
  return { enter: () => log.push(`${name}:enter`), step: async (i: number) => { log.push(`${name}${i}`); await sleep(ms); } };
}

test('candidates take turns in a fixed order, each warming up once, and are ranked by their median step', async () => {
  const log: string[] = [];
  const [fast, slow] = await timeAlternating([sleeper('a', 5, log), sleeper('b', 20, log)], { budgetMs: 60, minSteps: 3, turnMs: 25, maxRounds: Infinity });
  // Every turn enters, the first round starts with an untimed step, steps are numbered on over the turns.
  const turns = log.join(' ').split(/ (?=[ab]:enter)/);
  assert.deepEqual(turns.map((turn) => turn[0]), turns.map((_, i) => (i % 2 === 0 ? 'a' : 'b')));
  assert.deepEqual(log.filter((entry) => entry.startsWith('a') && !entry.includes(':')), Array.from({ length: fast.steps + 1 }, (_, i) => `a${i}`));
  assert.equal(log.filter((entry) => entry.startsWith('b') && !entry.includes(':')).length, slow.steps + 1);
  for (const timing of [fast, slow]) assert.ok(timing.steps >= 3);
  assert.ok(fast.msPerStep < slow.msPerStep, 'the median ranks the faster candidate first');
  assert.ok(fast.msPerStep >= 5 && slow.msPerStep >= 20);
});

test('maxRounds stops the rounds before the budget is spent', async () => {
  const log: string[] = [];
  const timings = await timeAlternating([sleeper('a', 1, log), sleeper('b', 1, log)], { budgetMs: 10_000, minSteps: 3, turnMs: 0, maxRounds: 2 });
  assert.deepEqual(log, ['a:enter', 'a0', 'a1', 'b:enter', 'b0', 'b1', 'a:enter', 'a2', 'b:enter', 'b2']);
  assert.deepEqual(timings.map((t) => t.steps), [2, 2]);
});
