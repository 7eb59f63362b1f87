#!/usr/bin/env node
// npm test: runs every compiled test file (dist/test/**/*.test.js) with node's test runner, one
// file at a time (the tests move real processes and PIDs around). Optional arguments filter the
// files by substring: `node test/run.js restore`.
import { readdirSync, statSync, existsSync } from 'node:fs';
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
const filters = process.argv.slice(2);
const files = walk(dist).filter((f) => !filters.length || filters.some((s) => f.includes(s))).sort();
if (!files.length) {
  console.error('test/run.js: no test files matched');
  process.exit(2);
}
console.log(`running ${files.length} test file(s): ${files.map((f) => relative(dist, f)).join(' ')}`);
const r = spawnSync(process.execPath, ['--test', '--test-concurrency=1', '--test-reporter=spec', ...files], { stdio: 'inherit' });
process.exit(r.status ?? 1);
