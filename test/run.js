#!/usr/bin/env node
// npm test (after `npm run build`): runs every compiled test file, dist/test/**/*.test.js, with
// node's test runner, one file at a time (the tests move real processes and PIDs around), and exits
// with its status. The reporter is node's default: TAP when the output is not a terminal, ending
// with the `# pass N` / `# fail N` summary. Optional arguments keep only the files whose path
// contains one of them: `node test/run.js memory refusals`.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const dist = join(root, 'dist', 'test');
if (!existsSync(dist)) {
  console.error('test/run.js: dist/test is missing; run `npm run build` first');
  process.exit(2);
}
function walk(dir) {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? walk(p) : n.endsWith('.test.js') ? [p] : [];
  });
}
// a compiled file whose source is gone (renamed or deleted test) is stale: tsc does not remove it
const hasSource = (f) => existsSync(join(root, relative(join(root, 'dist'), f)).replace(/\.js$/, '.ts'));
const filters = process.argv.slice(2);
const files = walk(dist)
  .filter(hasSource)
  .filter((f) => !filters.length || filters.some((s) => relative(dist, f).includes(s)))
  .sort();
if (!files.length) {
  console.error(`test/run.js: no test files matched${filters.length ? ` ${filters.join(', ')}` : ''}`);
  process.exit(2);
}
console.log(`# running ${files.length} test file(s): ${files.map((f) => relative(dist, f)).join(' ')}`);
const r = spawnSync(process.execPath, ['--test', '--test-concurrency=1', ...files], { stdio: 'inherit', cwd: root });
process.exit(r.status ?? 1);
