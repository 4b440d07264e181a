// Package prefetch makes every image a revision needs local before any cut-over:
// it ranks registries by measured latency, resolves tags at the origin, pulls by
// digest from the nearest mirror that has it and falls back down the list.
package prefetch
