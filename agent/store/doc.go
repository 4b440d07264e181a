// Package store records the agent's state in bbolt so that the node boots,
// heals and reports with no network. It is the only package that imports
// bbolt. Its record types are its own: the agent converts to and from them.
//
// # Schema
//
// One bbolt file (FileName under the state directory). Every bucket sits at
// the root; every name is in the one const block of schema.go. "→" is a key
// and its value; seq is a uint64 from the bucket's own sequence, 8 bytes
// big-endian, so that key order is insertion order.
//
//	schema/
//	    version → uint64, 8 bytes big-endian; not JSON: it is read before any
//	              record is decoded, so a codec change can never hide it
//	meta/                             small values, plain text
//	    wanted_revision  → commit the source wants on this node
//	    applied_revision → commit the node runs
//	    last_sync        → RFC 3339 UTC time of the last completed sync
//	revisions/
//	    <seq>    → Revision (JSON); newest last; the last Options.HistoryLimit kept
//	revision_index/
//	    <commit> → <seq> of the newest revisions/ entry of that commit
//	stacks/
//	    <stack>  → AppliedStack without its Spec (JSON)
//	specs/
//	    <stack>  → AppliedStack.Spec, opaque bytes (kept apart so that status
//	               reads never load them)
//	failed/
//	    <stack>  → Failed (JSON): the commit and digest of the spec that
//	               failed for the stack, not retried until a commit changes
//	               the stack (plain-text commit in schema version 1)
//	images/
//	    <canonical reference> → Image (JSON)
//	registries/
//	    <host>   → RegistryStats (JSON)
//	events/
//	    <seq>    → Event (JSON); newest last; the last Options.EventLimit kept
//
// # Versions and migrations
//
// SchemaVersion is the layout this code reads and writes. Open runs the
// pending steps of the ordered migration table in one write transaction, so a
// crash leaves the file at its old version, and refuses a file whose version
// is newer than SchemaVersion (ErrNewerSchema): an older agent must not
// rewrite what a newer one wrote.
//
// # Faults
//
// A file that bbolt cannot open, that is shorter than its own pages claim, or
// that fails bbolt's consistency check is ErrCorrupt; Open survives the panics
// and memory faults bbolt can raise on such files. OpenOrRecover moves a
// corrupt or newer file aside and starts empty; the agent then rebuilds from
// the checkout and the container labels. A single record that does not decode
// is skipped and reported (Damaged), never a reason not to start.
//
// Reads never write. Writes that would store what is already there are
// skipped, so a no-change poll costs no disk write; Writes counts commits.
package store
