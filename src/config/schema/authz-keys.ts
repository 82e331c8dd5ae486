// `when` key forms that validation and translation both read, so the two cannot disagree.

/**
 * `experimental.envoy.filters.FILTER[KEY]`, as Istio's envoyFilterGenerator splits it
 * (strings.SplitN(key, "[", 2) after trimming the final `]`): the filter up to the first `[`, and ONE
 * metadata key, the rest: `F[a][b]` is the key `a][b`, not the path a → b.
 */
export const ENVOY_FILTER_KEY = /^experimental\.envoy\.filters\.([^[]+)\[(.+)\]$/;
