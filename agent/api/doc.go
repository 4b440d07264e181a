// Package api serves the agent's local HTTP API on its unix socket, provides
// the client the CLI uses, and exposes Prometheus metrics when enabled.
package api
