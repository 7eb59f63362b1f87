// A process tree (test/programs/tree.c): two children, a grandchild, a child leading its own
// process group, a child leading its own session. Each member checks its pid, ppid, pgid and sid.
import { test } from 'node:test';
import { roundTripProgram } from '../lib/programs.js';

test('tree: pids, parents, process groups and sessions come back', (t) => roundTripProgram(t, 'tree'));
