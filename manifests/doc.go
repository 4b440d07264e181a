// Package manifests turns a checkout of the fleet repository into the desired
// state of one node: the Compose projects placed on it, normalized and
// validated, with a spec hash per service. It is pure: no network, Docker or Git.
//
// # Repository
//
//	fleet.yaml                           optional: regions, registries, policy
//	stacks/<stack>/compose.yaml          one Compose project per stack
//	stacks/<stack>/compose.<region>.yaml optional overlay, merged for that region
//	stacks/<stack>/.env                  optional interpolation variables
//
// Only compose.yaml and compose.<region>.yaml are read: compose.yml and
// docker-compose.* are reported (an error when they are the only file), so
// that a line number always points at one file. The directory name is the
// project name; a top-level name: must equal it.
//
// Load refuses a revision as a whole only when stacks/ is missing
// (ErrNoStacks: a wrong source.path must never prune a node) or fleet.yaml is
// invalid (*FleetError). Anything wrong with a stack is a Problem; a stack
// with an error is left out of Desired.Stacks and listed by Desired.Refused,
// so that the agent keeps its last good spec, and the other stacks go on.
//
// # Loading
//
// compose-go loads each stack with everything that could reach outside the
// checkout turned off: include and extends are refused, paths are resolved
// here (relative to the stack directory; ~ is refused), env_file is read only
// after its path is checked, and a panic inside compose-go refuses the stack.
// Interpolation sees the stack's .env, SKIFF_NODE, SKIFF_REGION and one
// SKIFF_LABEL_<KEY> per node label (see LabelVar; all of them win over .env,
// which cannot set a SKIFF_LABEL_ variable), never the process environment,
// so one commit renders the same everywhere but for node, region and labels.
// A variable that is not set is a warning, ${VAR:?msg} an error naming the
// variable. Validate knows no node: there a label variable without a default
// is a warning, and ${SKIFF_LABEL_X:?msg} is left to the node.
//
// # Placement
//
// x-skiff at top level and per service says where services run: regions,
// nodes (a missing list means everywhere) and labels the node must all
// carry; both levels apply. update is stop-first (default) or start-first,
// the service's winning. Services placed elsewhere are removed with what
// only they used; a stack left without services is absent. A remaining
// service that requires a removed one refuses the stack.
//
// # Validation
//
// Keys skiff does not support are errors naming the key and its line (the
// list is in keys.go), as are build without image, keys the engine cannot
// honour (healthcheck.start_interval), paths that leave the stack directory
// or the repository, and whatever the fleet.yaml policy denies (privileged,
// host namespaces, the Docker socket, devices, capabilities, host paths, volume
// devices): the message names the policy line that would allow it. Published
// host ports and container names may not clash on one node, and a fixed host
// port cannot serve several replicas or a start-first update. Images without
// tag or digest, or not written canonically, are warnings; platform is
// passed on as written. Secrets and configs come from file: only.
//
// Validate checks every stack for every region named in fleet.yaml, in an
// overlay file name or in x-skiff, ignoring node names and labels; ports then
// clash only between services whose placements can meet on one node.
//
// # Encrypted files
//
// Repository files encrypted with SOPS for age recipients (*.sops.yaml,
// *.sops.json, *.sops.env, *.sops) can be used wherever a stack uses a
// repository file, and the stack's .sops.env is interpolated beside .env.
// manifests never decrypts: it records such files in Stack.Files with their
// format, puts the values of encrypted dotenv files in the environment as
// {{sops:FILE:KEY}} placeholders, and, given the agent's Decrypter
// (WithDecrypter), refuses a stack whose files the node cannot decrypt
// (sops.go).
//
// # Spec hash
//
// Service.Hash is skiff's own (see hash.go): a versioned, canonical encoding
// of what reaches the container, with repository files by content digest
// (encrypted files by the digest of their ciphertext), stable across
// compose-go upgrades and checkout paths.
package manifests
