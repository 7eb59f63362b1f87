// godwit check [--json]: what this host's kernel lets godwit do. Exit 0 when the host can both
// dump and restore, 1 otherwise.
import type { CommandModule } from './command.js';
import { checkHost, type HostReport } from '../core/check.js';

/** Words of `text` in lines of at most `width` characters (a longer word is cut). */
export function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let cur = '';
  for (let word of text.split(/\s+/).filter(Boolean)) {
    while (word.length > width) {
      if (cur) { lines.push(cur); cur = ''; }
      lines.push(word.slice(0, width));
      word = word.slice(width);
    }
    if (!cur) cur = word;
    else if (cur.length + 1 + word.length <= width) cur += ' ' + word;
    else { lines.push(cur); cur = word; }
  }
  if (cur || !lines.length) lines.push(cur);
  return lines;
}

/** Rows of cells as a table whose last columns wrap to fit `total` characters. */
export function table(header: string[], rows: string[][], total: number, fixed: number): string[] {
  const gap = 2;
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (i < fixed ? r[i]!.length : 0))));
  const rest = Math.max(20 * (header.length - fixed), total - widths.slice(0, fixed).reduce((a, b) => a + b + gap, 0) - gap * (header.length - fixed - 1));
  const flexNeeds = header.slice(fixed).map((h, k) => Math.max(h.length, ...rows.map((r) => r[fixed + k]!.length)));
  // each wrapping column gets a fair base share, then the room left goes where text is longest
  const n = flexNeeds.length;
  const base = flexNeeds.map((need) => Math.min(need, Math.floor((0.8 * rest) / n)));
  const left = rest - base.reduce((a, b) => a + b, 0);
  const unmet = flexNeeds.map((need, k) => need - base[k]!);
  const unmetSum = unmet.reduce((a, b) => a + b, 0) || 1;
  base.forEach((b, k) => { widths[fixed + k] = Math.max(header[fixed + k]!.length, b + Math.floor((left * unmet[k]!) / unmetSum)); });
  const out: string[] = [];
  const emit = (cells: string[]) => {
    const wrapped = cells.map((c, i) => (i < fixed ? [c] : wrap(c, widths[i]!)));
    const height = Math.max(...wrapped.map((w) => w.length));
    for (let l = 0; l < height; l++) {
      out.push(wrapped.map((w, i) => (w[l] ?? '').padEnd(i === cells.length - 1 ? 0 : widths[i]!)).join(' '.repeat(gap)).trimEnd());
    }
  };
  emit(header);
  for (const r of rows) emit(r);
  return out;
}

export function formatReport(r: HostReport, columns: number): string {
  const out: string[] = [];
  out.push(`godwit check: Linux ${r.kernel}, ${r.cpu.model}, pid_max ${r.pidMax}`);
  if (!r.root) out.push('', 'godwit needs root: run `sudo godwit check` (as this user, the probes that need privileges fail).');
  out.push('');
  out.push(...table(['FEATURE', 'OK', 'DETAIL', 'CONSEQUENCE'], r.probes.map((p) => [p.name, p.ok ? 'yes' : 'NO', p.detail, p.consequence]), columns, 2));
  out.push('');
  out.push(`dirty-page tracking for pre-copy: ${r.tracking}` +
    (r.tracking === 'uffd' ? ' (userfaultfd-wp async + PAGEMAP_SCAN)' : r.tracking === 'soft-dirty' ? ' (clear_refs + pagemap bit 55)' : ' (content hashing: works everywhere, costs CPU)'));
  out.push(`dump: ${r.canDump ? 'yes' : 'no'}${r.missing.dump.length ? ` (missing: ${r.missing.dump.join(', ')})` : ''}`);
  out.push(`restore: ${r.canRestore ? 'yes' : 'no'}${r.missing.restore.length ? ` (missing: ${r.missing.restore.join(', ')})` : ''}`);
  out.push('', r.summary);
  return out.join('\n') + '\n';
}

export const checkCommand: CommandModule = {
  command: 'check',
  describe: 'probe what this host\'s kernel lets godwit do (exit 0 when it can dump and restore)',
  builder: (y) => y.option('json', { type: 'boolean', default: false, describe: 'print the report as JSON' }),
  handler: async (argv) => {
    const r = checkHost();
    process.stdout.write(argv.json ? JSON.stringify(r, null, 2) + '\n' : formatReport(r, Math.max(100, process.stdout.columns || 150)));
    return r.canDump && r.canRestore ? 0 : 1;
  },
};
