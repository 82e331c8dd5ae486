// Outrigger runs on Node 24 (its TypeScript sources are type-stripped by Node itself). An older node,
// as a Debian system's is, fails deep in a module load with ERR_UNKNOWN_FILE_EXTENSION ".ts": this says
// instead what to run. Plain JavaScript that any Node can load.

export const NEEDED_MAJOR = 24;

/** The line to print when `version` (`v20.19.2`) is too old, else undefined. */
export function nodeTooOld(version) {
  const major = Number(/^v?(\d+)\./.exec(version)?.[1]);
  if (major >= NEEDED_MAJOR) return undefined;
  return `outrigger: needs Node ${NEEDED_MAJOR} or newer, and this is Node ${version}. \`npm ci\` installs Node ${NEEDED_MAJOR} in node_modules/.bin: run \`export PATH=$PWD/node_modules/.bin:$PATH\` in the repository (or use \`npx outrigger\`, \`npm start\`), then run the command again.`;
}
