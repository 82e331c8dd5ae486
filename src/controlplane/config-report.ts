// What the control plane says of the config each time a file changes: a resource an edit made invalid
// (held at its last good version), one refused outright (invalid from its first version, or in a file
// that never parsed: not served at all), a warning, and a held resource that validates again. Each is
// said once, while it lasts, with file:line:col, field and fix.
import { type Diagnostic, headline } from '../config/diagnostic.ts';
import { resourceKey } from '../config/resource.ts';
import type { StoreState } from './config-store.ts';

export interface ConfigLogLine {
  level: 'info' | 'warn';
  message: string;
}

export class ConfigReporter {
  #held = new Set<string>();
  #said = new Set<string>();
  #found = new Set<string>();

  /**
   * What the analyzers find in the config now served (a route to a host nothing defines): served all the
   * same, as Istio serves it, and said as `outrigger analyze` says it. Only findings new since the last call.
   */
  findings(diagnostics: readonly Diagnostic[]): ConfigLogLine[] {
    const found = new Set(diagnostics.filter((d) => d.severity !== 'info').map(describe));
    const out = [...found].filter((l) => !this.#found.has(l)).map((l): ConfigLogLine => ({ level: 'warn', message: `config applied with an analyzer finding (outrigger analyze):\n${l}` }));
    this.#found = found;
    return out;
  }

  /** The lines that are news since the last call: what is still as it was is not said again. */
  report(state: StoreState): ConfigLogLine[] {
    const out: ConfigLogLine[] = [];
    const held = new Set(state.held.map((h) => h.key));
    const holding = new Set(state.held.flatMap((h) => h.diagnostics));
    for (const h of state.held) {
      if (this.#held.has(h.key)) continue;
      const at = h.diagnostics.find((d) => d.span)?.span;
      const where = at ? ` (${at.file}:${at.start.line}:${at.start.col})` : '';
      out.push({ level: 'warn', message: `${h.key} is invalid${where}; serving its last good version until the file is fixed:\n${h.diagnostics.map(describe).join('\n')}` });
    }
    const served = new Set(state.resources.map(resourceKey));
    for (const key of this.#held) {
      if (!held.has(key) && served.has(key)) out.push({ level: 'info', message: `${key} validates again: served as the file now says` });
    }
    const said = new Set<string>();
    for (const d of state.diagnostics) {
      if (d.severity === 'info' || holding.has(d)) continue;
      const line = describe(d);
      said.add(line);
      if (this.#said.has(line)) continue;
      const what = d.severity === 'error' ? `${d.resource ?? d.span?.file ?? 'a resource'} is invalid and not served (it has no earlier version that validated); fix the file, it reloads by itself:` : 'config warning:';
      out.push({ level: 'warn', message: `${what}\n${line}` });
    }
    this.#held = held;
    this.#said = said;
    return out;
  }
}

/** One diagnostic, as `outrigger analyze` heads it, and its fix. */
function describe(d: Diagnostic): string {
  return `  ${headline(d)}${d.fix ? `\n    fix: ${d.fix}` : ''}`;
}
