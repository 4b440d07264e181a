// Package engine is the Docker Engine API adapter: it turns a Compose service
// into a container spec and implements the reconciler's and the prefetcher's
// interfaces. It is the only package of the agent that imports the Docker client.
package engine
