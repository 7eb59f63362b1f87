// Zombies and a stopped child (test/programs/zombies.c): they stay zombies with their exit status
// and names, and the stopped child stays stopped.
import { test } from 'node:test';
import { roundTripProgram } from '../lib/programs.js';

test('zombies: unreaped children keep their status, a stopped child stays stopped', (t) => roundTripProgram(t, 'zombies'));
