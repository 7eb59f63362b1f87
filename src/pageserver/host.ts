// What a peer says of its host in the handshake. The agent fills in the CPU from its probes (the
// xsave size and features come from ptrace); a plain client sends what /proc/cpuinfo says.
import { hostname, release, arch } from 'node:os';
import { cpuFlags } from '../core/cpu.js';
import type { CpuInfo } from '../core/check.js';
import type { HostInfo } from './protocol.js';

export function hostInfo(cpu?: CpuInfo): HostInfo {
  return {
    hostname: hostname(), kernel: release(), arch: arch(),
    cpu: cpu
      ? { model: cpu.model, flags: cpu.flags, xsaveSize: cpu.xsaveSize, xsaveFeatures: cpu.xsaveFeatures }
      : { model: '', flags: cpuFlags().filter((f) => f.startsWith('avx') || f.startsWith('xsave')), xsaveSize: 0, xsaveFeatures: '' },
  };
}
