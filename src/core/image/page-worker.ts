// A page stream worker: runs copyOut/copyIn jobs off the main thread, so two streams use both
// cores (process_vm_* works from any thread; only ptrace requests are tied to the tracer).
import { parentPort } from 'node:worker_threads';
import { copyIn } from './page-copy.js';
import { copyOut } from './dense.js';
import type { StreamJob, StreamReply } from './page-streams.js';

parentPort!.on('message', (job: StreamJob) => {
  let reply: StreamReply;
  try {
    if (job.op === 'out') reply = { id: job.id, ok: true, out: copyOut(job.pid, job.path, job.runs, job.tolerant) };
    else { copyIn(job.pid, job.path, job.entries, job.chunkCrcs); reply = { id: job.id, ok: true }; }
  } catch (e) {
    reply = { id: job.id, ok: false, error: (e as Error).message };
  }
  parentPort!.postMessage(reply);
});
