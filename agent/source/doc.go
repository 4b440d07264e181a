// Package source follows the node's Git branch: a cheap remote check (ls-remote),
// fetch of a new head, signature verification, and checkout into a
// revision-addressed directory with an atomic switch, keeping the last good one.
//
// It is the only package of the agent that imports go-git.
package source
