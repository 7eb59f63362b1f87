// The System V structures as src/core/sys/ipc.ts lays them out, against the C library's own
// (glibc's x86_64 structures are the kernel's 64-bit ones) and against what /proc/sysvipc says.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir, cleanup } from '../lib/harness.js';
import { sys } from '../../src/core/sys/libc.js';
import { NR } from '../../src/core/sys/nr.js';
import { IPC, SHMID_DS_SIZE, SEMID_DS_SIZE, MSQID_DS_SIZE, PERM_SIZE, shmStat, semStat, msgStat, shmSet, shmRemove, semRemove, msgRemove, msgSet } from '../../src/core/sys/ipc.js';
import { listObjects } from '../../src/core/ipc/sysvipc.js';

test('ipc64 structures: sizes and offsets are the C library\'s', (t) => {
  const dir = tempDir('ipc-layout');
  t.after(() => cleanup(dir));
  writeFileSync(join(dir, 'l.c'), `#include <stdio.h>
#include <stddef.h>
#include <sys/shm.h>
#include <sys/sem.h>
#include <sys/msg.h>
int main(void) {
  printf("%zu %zu %zu %zu\\n", sizeof(struct ipc_perm), sizeof(struct shmid_ds), sizeof(struct semid_ds), sizeof(struct msqid_ds));
  printf("%zu %zu %zu %zu %zu %zu\\n", offsetof(struct ipc_perm, uid), offsetof(struct ipc_perm, cgid), offsetof(struct ipc_perm, mode), offsetof(struct shmid_ds, shm_segsz), offsetof(struct shmid_ds, shm_cpid), offsetof(struct shmid_ds, shm_nattch));
  printf("%zu %zu %zu %zu %zu\\n", offsetof(struct semid_ds, sem_nsems), offsetof(struct msqid_ds, __msg_cbytes), offsetof(struct msqid_ds, msg_qnum), offsetof(struct msqid_ds, msg_qbytes), offsetof(struct msqid_ds, msg_lspid));
  return 0;
}
`);
  const cc = spawnSync('gcc', ['-o', join(dir, 'l'), join(dir, 'l.c')], { encoding: 'utf8' });
  assert.equal(cc.status, 0, cc.stderr);
  const out = spawnSync(join(dir, 'l'), { encoding: 'utf8' }).stdout.trim().split('\n').map((l) => l.split(' ').map(Number));
  assert.deepEqual(out[0], [PERM_SIZE, SHMID_DS_SIZE, SEMID_DS_SIZE, MSQID_DS_SIZE]);
  assert.deepEqual(out[1], [4, 16, 20, 48, 80, 88]);
  assert.deepEqual(out[2], [80, 72, 80, 88, 96]);
});

test('IPC_STAT through godwit\'s layouts agrees with /proc/sysvipc', () => {
  const key = 0x47640000 + (process.pid & 0xffff);
  const shm = sys('shmget', NR.shmget, key, 10000, IPC.CREAT | IPC.EXCL | 0o640);
  const sem = sys('semget', NR.semget, key, 3, IPC.CREAT | IPC.EXCL | 0o604);
  const msg = sys('msgget', NR.msgget, key, IPC.CREAT | IPC.EXCL | 0o620);
  try {
    shmSet(shm, 1000, 1001, 0o600);
    const s = shmStat(shm);
    assert.deepEqual([s.perm.key, s.perm.uid, s.perm.gid, s.perm.cuid, s.perm.mode & 0o777, s.segsz, s.cpid, s.nattch], [key, 1000, 1001, 0, 0o600, 10000, process.pid, 0]);
    const row = listObjects('shm').find((r) => r.id === shm)!;
    assert.deepEqual([row.key, row.pids[0], row.nattch], [key, process.pid, 0]);
    const e = semStat(sem);
    assert.deepEqual([e.perm.key, e.perm.mode & 0o777, e.nsems], [key, 0o604, 3]);
    msgSet(msg, 0, 0, 0o600, 12345);
    const q = msgStat(msg);
    assert.deepEqual([q.perm.key, q.perm.mode & 0o777, q.qbytes, q.qnum, q.cbytes], [key, 0o600, 12345, 0, 0]);
  } finally {
    shmRemove(shm); semRemove(sem); msgRemove(msg);
  }
});
