/** How many distinct values a sharing cache keeps. Past it, each caller gets its own copy. */
export const MAX_SHARED_VALUES = 256;

/**
 * The one value kept for `key` in `cache`, made by `make` the first time. Clusters share such values
 * (their limits, their load-balancer factories, their identity keys) because nearly all of them carry
 * Istio's defaults. The keys come from config, so the cache stops growing at `MAX_SHARED_VALUES`:
 * an odd config past that gets fresh values, never unbounded memory.
 */
export function sharedValue<V>(cache: Map<string, V>, key: string, make: () => V): V {
  const had = cache.get(key);
  if (had !== undefined) return had;
  const made = make();
  if (cache.size < MAX_SHARED_VALUES) cache.set(key, made);
  return made;
}
