// How a container of a manifest runs as a local process: its own command and args, a built-in program
// for images Outrigger knows (podinfo, sleep/curl clients), or the `outrigger.dev/command` annotation.
// Anything else is reported, never guessed.
import path from 'node:path';
import type { Container } from '../config/types/kubernetes.ts';
import { meshNodeFlags } from './node-flags.ts';

export interface LocalCommand {
  file: string;
  args: string[];
  /** What the command came from, for `outrigger status` and error messages. */
  origin: 'manifest' | 'built-in' | 'annotation';
  /** Environment a built-in program takes from its image (the manifest's own `env` wins over it). */
  env?: Record<string, string>;
}

export class UnrunnableContainerError extends Error {
  readonly code = 'UNRUNNABLE_CONTAINER';
}

/** The built-in programs beside this file (`.ts`), or in a stripped copy (`.js`, see js-build.ts). */
export interface DemoPrograms {
  dir: string;
  ext: '.ts' | '.js';
}

export const sourceDemoPrograms: DemoPrograms = { dir: path.join(path.dirname(new URL(import.meta.url).pathname), 'demo'), ext: '.ts' };

/** Images whose own binary Outrigger replaces with a built-in program. */
const builtIns: { pattern: RegExp; script: string; ownBinaries: string[]; env?: (tag: string) => Record<string, string> }[] = [
  // podinfo reports the version it was built as: the image tag (`:6.5.3`), so stable and canary differ.
  { pattern: /(^|\/)stefanprodan\/podinfo(:|@|$)/, script: 'podinfo', ownBinaries: ['./podinfo', 'podinfo', '/home/app/podinfo'], env: (tag) => (/^v?\d+\.\d+\.\d+/.test(tag) ? { PODINFO_VERSION: tag.replace(/^v/, '') } : {}) },
  { pattern: /(^|\/)(curlimages\/curl|busybox|alpine|.*\/sleep|sleep)(:|@|$)/, script: 'sleep', ownBinaries: [] },
];

/** The tag of `registry/name:tag` (not a registry's port, not a digest); '' without one. */
function imageTag(image: string): string {
  const name = image.split('@')[0] ?? '';
  const colon = name.lastIndexOf(':');
  return colon > name.lastIndexOf('/') ? name.slice(colon + 1) : '';
}

/** Splits the annotation value like a shell would for simple words and single/double quotes. */
export function splitCommandLine(line: string): string[] {
  const words: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|'([^']*)'|(\S+)/g;
  for (let m = re.exec(line); m; m = re.exec(line)) words.push(m[1] ?? m[2] ?? m[3] ?? '');
  return words;
}

export function resolveCommand(
  container: Container,
  annotations: Record<string, string>,
  nodeBinary: string,
  demo: DemoPrograms = sourceDemoPrograms,
): LocalCommand {
  const annotated = annotations['outrigger.dev/command'];
  if (annotated) {
    const [file, ...args] = splitCommandLine(annotated);
    if (!file) throw new UnrunnableContainerError(`container ${container.name}: the outrigger.dev/command annotation is empty`);
    return { file, args, origin: 'annotation' };
  }
  const image = container.image ?? '';
  const command = [...(container.command ?? []), ...(container.args ?? [])];
  const builtIn = builtIns.find((b) => b.pattern.test(image));
  if (builtIn && (command.length === 0 || builtIn.ownBinaries.includes(command[0] ?? ''))) {
    const env = builtIn.env?.(imageTag(image)) ?? {};
    return { file: nodeBinary, args: [...meshNodeFlags, path.join(demo.dir, builtIn.script + demo.ext)], origin: 'built-in', ...(Object.keys(env).length ? { env } : {}) };
  }
  if (command.length > 0) {
    const [file, ...args] = command;
    return { file: file as string, args, origin: 'manifest' };
  }
  throw new UnrunnableContainerError(
    `container ${container.name} (image ${image || 'none'}) has no command and no built-in program; ` +
      'set `command:` in the manifest or the annotation outrigger.dev/command on the Deployment',
  );
}
