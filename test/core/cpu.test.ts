// CPU state (test/programs/cpu.c): AVX-512 (or AVX2) registers, x87, MXCSR, general registers
// live in a loop, fs and gs bases.
import { test } from 'node:test';
import { roundTripProgram } from '../lib/programs.js';

test('cpu: vector, x87 and general registers, MXCSR, fs and gs bases come back', (t) => roundTripProgram(t, 'cpu'));
