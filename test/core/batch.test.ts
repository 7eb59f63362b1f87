// Remote syscalls in batches (src/core/ptrace/batch.ts), on a real process frozen by ptrace: the
// calls run in order with their results, an allowed failure is a result, a failure that is not
// stops the batch there and names the call, more calls than one table holds still all run, and
// the process goes on as it was.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildProgram, launch, verdict } from '../lib/harness.js';
import { freezeTree, thawTree } from '../../src/core/ptrace/freeze.js';
import { Injection, findSyscallInsn } from '../../src/core/ptrace/inject.js';
import { ProcMem } from '../../src/core/ptrace/memory.js';
import { SyscallBatch } from '../../src/core/ptrace/batch.js';
import { NR } from '../../src/core/sys/nr.js';
import { MAP, PROT } from '../../src/core/sys/mman.js';
import { readMaps } from '../../src/core/proc/smaps.js';

const EINVAL = 22;

test('a batch of remote syscalls: results in order, failures where they belong, the process untouched', async (t) => {
  const target = await launch(t, 'batch', [buildProgram('plain')]);
  const tree = freezeTree(target.pid);
  const probe = new ProcMem(target.pid);
  const inj = new Injection(target.pid, findSyscallInsn(target.pid, probe));
  probe.close();
  try {
    inj.mapScratch();
    const b = new SyscallBatch(inj);
    b.add('getpid', NR.getpid);
    b.addTry('munmap(unaligned)', NR.munmap, 1, 4096);
    const len = 64 * 4096;
    b.add('mmap', NR.mmap, 0, len, PROT.READ | PROT.WRITE, MAP.PRIVATE | MAP.ANONYMOUS, -1, 0);
    const [pid, bad, at] = b.run();
    assert.equal(pid, target.pid);
    assert.equal(bad, -EINVAL);
    assert.ok(readMaps(target.pid).some((v) => v.start === at && v.end === at! + len), 'the mapping is there');
    // a thousand calls: more than one table holds
    for (let i = 0; i < 1000; i++) b.add('mprotect', NR.mprotect, at! + (i % 64) * 4096, 4096, i % 2 ? PROT.READ : PROT.READ | PROT.WRITE);
    assert.ok(b.run().every((r) => r === 0));
    b.add('munmap', NR.munmap, at!, len);
    b.add('munmap(unaligned)', NR.munmap, 1, 4096);
    b.add('getpid', NR.getpid);
    assert.throws(() => b.run(), /remote munmap\(unaligned\) failed: EINVAL/);
    assert.ok(!readMaps(target.pid).some((v) => v.start === at), 'the calls before the failure ran');
    inj.unmapScratch();
  } finally {
    inj.releaseThreads();
    inj.close();
    thawTree(tree);
  }
  assert.match(await verdict(target), /^PASS/);
});
