// The last-good resource set: each file's latest load result merged by resource key. A resource that
// turns invalid (its key named by an error diagnostic) keeps its last good version and is reported as held;
// so does every resource of a file that no longer parses (a YAML error names no resource): as kubectl
// refuses a broken apply, a typo never deletes a DENY policy or a STRICT PeerAuthentication. The
// warnings are those of what is served: a held resource's from its last good version, never ones
// computed from the text that was refused (a weight "75%" would otherwise sum the rest to 25).
import type { Diagnostic } from '../config/diagnostic.ts';
import type { LoadResult } from '../config/load.ts';
import type { AnyResource } from '../config/resource.ts';
import { resourceKey } from '../config/resource.ts';

export interface HeldResource {
  key: string;
  /** The file the last good version came from. */
  file: string;
  diagnostics: Diagnostic[];
}

export interface StoreState {
  resources: AnyResource[];
  diagnostics: Diagnostic[];
  held: HeldResource[];
}

interface Served {
  resource: AnyResource;
  file: string;
  /** The warnings (and infos) the load gave this version. */
  warnings: Diagnostic[];
}

export class ConfigStore {
  #files = new Map<string, LoadResult>();
  #lastGood = new Map<string, Served>();
  #state: StoreState = { resources: [], diagnostics: [], held: [] };

  /** Replaces one file's load result (undefined: the file is gone). Returns whether the resource set changed. */
  setFile(file: string, result: LoadResult | undefined): boolean {
    if (result) this.#files.set(file, result);
    else this.#files.delete(file);
    return this.#recompute();
  }

  get state(): StoreState {
    return this.#state;
  }

  get files(): string[] {
    return [...this.#files.keys()].sort();
  }

  #recompute(): boolean {
    const current = new Map<string, Served>();
    const diagnostics: Diagnostic[] = [];
    const erroredKeys = new Map<string, Diagnostic[]>();
    /** Per file, its errors that name no resource: the file (or a document of it) did not parse. */
    const brokenFiles = new Map<string, Diagnostic[]>();
    for (const file of this.files) {
      const r = this.#files.get(file) as LoadResult;
      for (const res of r.resources) current.set(resourceKey(res), { resource: res, file, warnings: [] });
      const refusedHere = new Set<string>();
      for (const d of r.diagnostics) {
        if (d.severity !== 'error') continue;
        if (d.resource) {
          refusedHere.add(d.resource);
          erroredKeys.set(d.resource, [...(erroredKeys.get(d.resource) ?? []), d]);
        } else brokenFiles.set(file, [...(brokenFiles.get(file) ?? []), d]);
      }
      // A resource this file refused: its errors say why, and its warnings were computed from text that
      // is not served. (A valid copy of the same resource in another file keeps its own.)
      for (const d of r.diagnostics) if (d.severity === 'error' || d.resource === undefined || !refusedHere.has(d.resource)) diagnostics.push(d);
    }
    for (const d of diagnostics) if (d.severity !== 'error' && d.resource !== undefined) current.get(d.resource)?.warnings.push(d);
    const held: HeldResource[] = [];
    const next = new Map(current);
    for (const [key, good] of this.#lastGood) {
      if (current.has(key)) continue;
      const why = erroredKeys.get(key) ?? brokenFiles.get(good.file);
      // Gone without an error: deleted. Gone with one, or from a file that no longer parses: it became
      // invalid, keep what worked, and what was said of it.
      if (why) {
        next.set(key, good);
        held.push({ key, file: good.file, diagnostics: why });
        diagnostics.push(...good.warnings);
      }
    }
    const before = this.#lastGood;
    this.#lastGood = next;
    this.#state = {
      resources: [...next.values()].map((v) => v.resource),
      diagnostics,
      held: held.sort((a, b) => a.key.localeCompare(b.key)),
    };
    return !sameResources(before, next);
  }
}

function sameResources(a: Map<string, Served>, b: Map<string, Served>): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) {
    const w = b.get(k);
    if (!w || (w.resource !== v.resource && JSON.stringify(strip(w.resource)) !== JSON.stringify(strip(v.resource)))) return false;
  }
  return true;
}

/** Compares content, not where in a file it sits. */
function strip(r: AnyResource): unknown {
  const { origin: _o, ...rest } = r;
  return rest;
}
