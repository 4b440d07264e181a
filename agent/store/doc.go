// Package store records the agent's state in bbolt so that the node boots,
// heals and reports with no network. It is the only package that imports bbolt.
package store
