package engine

// Labels skiff puts on the objects it creates. The com.docker.compose labels
// are those docker compose v2 writes, so `docker compose -p <stack> ps` and
// `logs` work on a node; the io.skiff labels tell skiff's objects apart and
// say which node and commit they belong to (DESIGN.md §6).
const (
	LabelProject     = "com.docker.compose.project"
	LabelService     = "com.docker.compose.service"
	LabelNumber      = "com.docker.compose.container-number"
	LabelOneoff      = "com.docker.compose.oneoff"
	LabelConfigHash  = "com.docker.compose.config-hash"
	LabelImage       = "com.docker.compose.image" // the image ID, as compose writes it
	LabelDependsOn   = "com.docker.compose.depends_on"
	LabelNetwork     = "com.docker.compose.network"
	LabelVolume      = "com.docker.compose.volume"
	LabelVersion     = "com.docker.compose.version"
	LabelConfigFiles = "com.docker.compose.project.config_files"

	LabelManaged  = "io.skiff.managed"
	LabelNode     = "io.skiff.node"
	LabelRevision = "io.skiff.revision"
	LabelRef      = "io.skiff.image" // the canonical image reference
	// LabelNetworkHash and LabelVolumeHash hold the hash of the definition
	// a network or volume was created from (manifests.Stack.NetworkHash,
	// VolumeHash), so that a changed definition is seen from the list alone.
	LabelNetworkHash = "io.skiff.network-hash"
	LabelVolumeHash  = "io.skiff.volume-hash"
)

// composeVersion is what skiff writes in com.docker.compose.version: the
// compose release whose naming and labelling skiff follows.
const composeVersion = "2.40.3"
