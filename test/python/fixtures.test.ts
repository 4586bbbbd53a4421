import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { SYSTEM_PYTHON } from '../helpers.js';
import { GENERATOR_SOURCES, referenceFixturesMissing } from '../reference-fixtures.js';

const ROOT = join(import.meta.dirname, '..', '..');

/** Runs the script's imports (main() runs only as __main__); prints the files of the modules they load from python/. */
const IMPORTED_FILES = `import json, os, runpy, sys
script, root = sys.argv[1], os.path.realpath(sys.argv[2])
runpy.run_path(script)
files = {os.path.realpath(m.__file__) for m in list(sys.modules.values()) if getattr(m, '__file__', None)}
print(json.dumps(sorted(os.path.relpath(f, root) for f in files if f.startswith(os.path.join(root, 'python', '')))))`;

describe('the reference fixtures\' cache key', { skip: referenceFixturesMissing }, () => {
  it('hashes every file the generator runs: the script and each python/mnext_torch module it imports', () => {
    const [script] = GENERATOR_SOURCES;
    const run = spawnSync(SYSTEM_PYTHON, ['-c', IMPORTED_FILES, script, ROOT], { encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr);
    const imported = JSON.parse(run.stdout) as string[];
    assert.ok(imported.includes(join('python', 'mnext_torch', 'fixtures.py')), run.stdout);
    assert.deepEqual([relative(ROOT, script), ...imported].sort(), GENERATOR_SOURCES.map((file) => relative(ROOT, file)).sort());
  });
});
