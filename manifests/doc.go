// Package manifests turns a checkout of the fleet repository into the desired
// state of one node: the Compose projects placed on it, normalized and
// validated, with a spec hash per service. It is pure: no network, Docker or Git.
package manifests
