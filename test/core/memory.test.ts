// Memory (test/programs/memory.c): anonymous, heap, thread stack, file mappings private and
// shared, shared anonymous memory with a child, protections, a 1 GiB sparse mapping, the vDSO.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { godwit } from '../lib/harness.js';
import { roundTripProgram } from '../lib/programs.js';

test('memory: every mapping, its contents and the vDSO come back at their addresses', (t) =>
  roundTripProgram(t, 'memory', {
    // it maps 1 GiB and touches 16 pages of it: the image holds what was touched, not the mapping
    afterRestore: (target) => {
      const r = godwit(['inspect', join(target.dir, 'img'), '--json']);
      assert.equal(r.code, 0, r.stderr);
      const s = JSON.parse(r.stdout) as { totalPageBytes: number };
      assert.ok(s.totalPageBytes < 64 << 20, `the image holds ${s.totalPageBytes} bytes of pages`);
    },
  }));
