// Indents a block of text (a process's log tail) under the progress line that introduces it.

export function indent(text: string): string {
  return text
    .split('\n')
    .map((l) => `    ${l}`)
    .join('\n');
}
