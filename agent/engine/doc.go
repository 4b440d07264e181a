// Package engine is the Docker Engine API adapter: it turns a Compose service
// into a container spec and implements the reconciler's and the prefetcher's
// interfaces. It is the only package of the agent that imports the Docker client.
//
// Every engine API call has its own deadline (Options.CallTimeout; a stop
// adds the container's stop timeout), so a hung daemon fails calls instead
// of the loops that make them. Only pulls (bounded by their caller) and the
// event stream run longer.
//
// Repository files are content (files.go): containers mount verified,
// content-addressed copies under Options.FilesDir, always read-only, even
// where compose would mount them writable (spec.go lists this with the other
// deliberate differences from compose), and CollectFiles removes the copies
// that no kept spec and no container refers to. Files encrypted with SOPS
// are copied there encrypted; their plaintext is decrypted (Options.Decrypter)
// into Options.SecretsDir, the runtime directory, and mounted from there;
// the values of encrypted dotenv files go straight into the environment
// (secrets.go).
package engine
