// `check`: the host's probes, as `godwit check --json` prints them.
import { checkHost, type HostReport } from '../../core/check.js';

export function check(): HostReport {
  return checkHost();
}
