// Threads (test/programs/threads.c): TLS per thread, a mutex/condvar ping-pong, and threads blocked
// in nanosleep, read, a futex wait and epoll_wait when frozen, each completing correctly afterwards.
import { test } from 'node:test';
import { roundTripProgram } from '../lib/programs.js';

test('threads: TLS, ping-pong and blocked calls come back', (t) => roundTripProgram(t, 'threads'));
