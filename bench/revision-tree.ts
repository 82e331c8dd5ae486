// A source tree of one revision beside the repository's own node_modules, for A/B benches of two
// revisions (pair-ab.ts, cluster-memory.ts): what `git archive` holds of src, bin, bench and package.json.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, symlinkSync } from 'node:fs';
import path from 'node:path';

export function revisionTree(repo: string, rev: string, dir: string): string {
  mkdirSync(path.join(dir, 'node_modules'), { recursive: true });
  const tar = execFileSync('git', ['-C', repo, 'archive', '--format=tar', rev, 'src', 'bin', 'bench', 'package.json'], { maxBuffer: 1 << 30 });
  execFileSync('tar', ['-x', '-C', dir], { input: tar });
  // Its stripped copy (node_modules/.cache) stays its own.
  for (const entry of readdirSync(path.join(repo, 'node_modules'))) {
    if (entry !== '.cache') symlinkSync(path.join(repo, 'node_modules', entry), path.join(dir, 'node_modules', entry));
  }
  return dir;
}
