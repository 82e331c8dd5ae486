// Entry points of the input edge: text or paths in, typed resources and diagnostics out. Never
// throws on bad input; an invalid resource is left out and its diagnostics say why.
export { type LoadPathsOptions, loadBytes, loadPaths } from './load-paths.ts';
export { type LoadResult, loadText, mergeResults } from './load-text.ts';
