// A unified diff of two texts by lines (Myers' O(ND) algorithm), in the shape `diff -u` and istioctl's
// go-difflib print: `--- from`, `+++ to`, then `@@ -l,n +l,n @@` hunks with `context` lines around each change.

type Op = { kind: ' ' | '-' | '+'; line: string };

/** Past this many differing lines the middle is shown as all removed, then all added: still a true diff, found in bounded memory. */
const maxEdits = 4000;

/** The edit script turning `a` into `b`: kept, removed and added lines in order. */
function editScript(a: readonly string[], b: readonly string[]): Op[] {
  let start = 0;
  while (start < a.length && start < b.length && a[start] === b[start]) start++;
  let endA = a.length;
  let endB = b.length;
  while (endA > start && endB > start && a[endA - 1] === b[endB - 1]) {
    endA--;
    endB--;
  }
  const same = (from: number, to: number): Op[] => a.slice(from, to).map((line) => ({ kind: ' ', line }));
  return [...same(0, start), ...middle(a.slice(start, endA), b.slice(start, endB)), ...same(endA, a.length)];
}

/** Myers' greedy search for the shortest edit script, keeping each round's furthest reaches to trace it back. */
function middle(a: readonly string[], b: readonly string[]): Op[] {
  const n = a.length;
  const m = b.length;
  const removed = (): Op[] => a.map((line) => ({ kind: '-', line }));
  const added = (): Op[] => b.map((line) => ({ kind: '+', line }));
  if (n === 0 || m === 0) return [...removed(), ...added()];
  const offset = n + m;
  const v = new Int32Array(2 * offset + 2);
  const trace: Int32Array[] = [];
  for (let d = 0; d <= Math.min(n + m, maxEdits); d++) {
    // Round d can only have reached diagonals -d..d: keep just those.
    trace.push(v.slice(offset - d, offset + d + 1));
    for (let k = -d; k <= d; k += 2) {
      const down = k === -d || (k !== d && (v[offset + k - 1] ?? 0) < (v[offset + k + 1] ?? 0));
      let x = down ? (v[offset + k + 1] ?? 0) : (v[offset + k - 1] ?? 0) + 1;
      let y = x - k;
      while (x < n && y < m && a[x] === b[y]) {
        x++;
        y++;
      }
      v[offset + k] = x;
      if (x >= n && y >= m) return backtrack(a, b, trace, d);
    }
  }
  return [...removed(), ...added()];
}

function backtrack(a: readonly string[], b: readonly string[], trace: readonly Int32Array[], last: number): Op[] {
  const ops: Op[] = [];
  let x = a.length;
  let y = b.length;
  for (let d = last; d > 0; d--) {
    const prev = trace[d] as Int32Array; // reaches after round d - 1, diagonals -d..d
    const at = (k: number) => prev[k + d] ?? 0;
    const k = x - y;
    const down = k === -d || (k !== d && at(k - 1) < at(k + 1));
    const prevK = down ? k + 1 : k - 1;
    const prevX = at(prevK);
    const prevY = prevX - prevK;
    while (x > prevX && y > prevY) {
      y--;
      ops.push({ kind: ' ', line: a[--x] as string });
    }
    if (down) ops.push({ kind: '+', line: b[--y] as string });
    else ops.push({ kind: '-', line: a[--x] as string });
  }
  while (x > 0) ops.push({ kind: ' ', line: a[--x] as string });
  return ops.reverse();
}

/** go-difflib's (and Python difflib's) range: `start,length`, `start` alone for one line, `start-1,0` for none. */
function range(start: number, length: number): string {
  if (length === 1) return String(start + 1);
  if (length === 0) return `${start},0`;
  return `${start + 1},${length}`;
}

/** The unified diff from `a` to `b`, or '' when they are the same. */
export function unifiedDiff(a: readonly string[], b: readonly string[], fromName: string, toName: string, context = 3): string {
  const ops = editScript(a, b);
  const changed = ops.flatMap((o, i) => (o.kind === ' ' ? [] : [i]));
  if (changed.length === 0) return '';
  // Changes closer than twice the context share a hunk.
  const groups: [number, number][] = [];
  for (const i of changed) {
    const g = groups.at(-1);
    if (g && i - g[1] <= 2 * context) g[1] = i;
    else groups.push([i, i]);
  }
  // Where each op sits in a and in b.
  const posA: number[] = [];
  const posB: number[] = [];
  let ia = 0;
  let ib = 0;
  for (const o of ops) {
    posA.push(ia);
    posB.push(ib);
    if (o.kind !== '+') ia++;
    if (o.kind !== '-') ib++;
  }
  let out = `--- ${fromName}\n+++ ${toName}\n`;
  for (const [first, lastChange] of groups) {
    const from = Math.max(0, first - context);
    const to = Math.min(ops.length, lastChange + context + 1);
    const hunk = ops.slice(from, to);
    const lenA = hunk.filter((o) => o.kind !== '+').length;
    const lenB = hunk.filter((o) => o.kind !== '-').length;
    out += `@@ -${range(posA[from] ?? 0, lenA)} +${range(posB[from] ?? 0, lenB)} @@\n`;
    for (const o of hunk) out += `${o.kind}${o.line}\n`;
  }
  return out;
}
