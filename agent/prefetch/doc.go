// Package prefetch makes every image a revision needs local before any cut-over:
// it ranks registries by measured latency, resolves tags at the origin, pulls by
// digest from the nearest mirror that has it and falls back down the list.
//
// Candidates for an image whose registry is one of fleet.yaml's origins are
// the node's region's registries, the node's own, then the origins
// (manifests.Fleet.RegistriesFor); any other image is pulled as written.
// Candidates are ranked by the median of a few GET /v2/ over new connections
// (200 and 401 mean alive), kept in a MeasurementCache with their age and
// measured again when too old or after a failure. Unreachable ones are named
// in errors but not tried.
//
// A tag is resolved to a digest at its origin with one HEAD request; the
// bytes then come by digest from the nearest candidate that serves it (a
// mirror whose tag points elsewhere does not have that digest and is
// skipped), and the image is tagged with its canonical name while the
// mirror's name is removed. With the origin unreachable the nearest
// mirror's tag is pulled and the result marked unverified; an origin that
// answers 404 fails the image. A digest reference is pulled by digest and
// must yield it; it keeps the mirror's path@digest name, by which the engine
// finds it again (containers run it by ID).
//
// Pulls run in parallel up to a bound, one per image at a time (callers
// asking for the same image share its pull), each with an overall timeout
// and an inactivity timeout fed by the engine's progress stream.
// Credentials come from the Docker config file as Docker finds them: the
// registry's credHelpers entry, else credsStore, run through the
// credential-helper protocol (docker-credential-<name> on PATH, get), else
// the inline "auths". They serve both the tag resolution at the origin and
// the engine's pull (X-Registry-Auth). A helper that fails fails that
// registry's attempt with an error naming the helper and the registry.
package prefetch
