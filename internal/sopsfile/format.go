// Package sopsfile reads files encrypted by SOPS (getsops/sops) for age
// recipients: their metadata, and, given the data key, their plaintext with
// the MAC verified as sops verifies it. It is pure: it never reads a file,
// a key or the environment, and it holds no identity. Unwrapping the data key
// with the node's age identities is agent/secrets' part.
//
// The sops Go packages that load and decrypt files (the root package, aes,
// stores, decrypt) link every cloud KMS SDK (AWS, GCP, Azure, Vault,
// HuaweiCloud) and a gRPC key service into any binary that imports them.
// This package implements the same file format on the standard library and
// the YAML parser skiff already links, and uses sops' own formats package to
// tell the store format from a file name. Its tests check it against files
// encrypted by the sops library itself.
//
// # The format, as sops writes it
//
// A document (YAML, JSON, dotenv, or a JSON envelope {"data": …} for binary
// files) keeps its structure; each leaf value that sops encrypted is
//
//	ENC[AES256_GCM,data:<b64>,iv:<b64>,tag:<b64>,type:str|int|float|bool|bytes|time|comment]
//
// sealed with the 32-byte data key, the IV as nonce, and the value's path
// (mapping keys joined by ":", plus ":"; list positions do not count) as
// additional data. Which leaves are encrypted follows the metadata's rule:
// unencrypted_suffix (default "_unencrypted"), encrypted_suffix,
// unencrypted_regex or encrypted_regex, matched against the keys of the path.
// The metadata sits under the top-level key "sops" (flattened to sops_*
// lines in dotenv files) and holds the data key wrapped for each recipient
// ("age": [{recipient, enc}], enc an armored age file), "lastmodified", and
// "mac": the upper-case hex SHA-512 of every leaf's plaintext in document
// order (only the encrypted ones with mac_only_encrypted, after a fixed
// prefix), itself sealed as a value with lastmodified as additional data.
package sopsfile

import (
	"path"
	"path/filepath"
	"strings"

	"github.com/getsops/sops/v3/cmd/sops/formats"
)

// Format is a sops store format.
type Format = formats.Format

// The formats skiff decrypts.
const (
	Binary = formats.Binary
	Dotenv = formats.Dotenv
	JSON   = formats.Json
	YAML   = formats.Yaml
)

// Recognize tells by its name whether a repository file is encrypted with
// SOPS, and in which format: *.sops.yaml (or .yml), *.sops.json, *.sops.env,
// or *.sops for a binary file. The stem may be empty: a stack's .sops.env.
func Recognize(name string) (Format, bool) {
	base := path.Base(filepath.ToSlash(name))
	stem := base
	switch ext := path.Ext(base); ext {
	case ".yaml", ".yml", ".json", ".env":
		stem = strings.TrimSuffix(base, ext)
	}
	if !strings.HasSuffix(stem, ".sops") {
		return 0, false
	}
	f := formats.FormatForPath(base)
	switch f {
	case Binary, Dotenv, JSON, YAML:
		return f, true
	}
	return 0, false
}

// FormatName is the name the sops command line gives a format (--input-type).
func FormatName(f Format) string {
	switch f {
	case Dotenv:
		return "dotenv"
	case JSON:
		return "json"
	case YAML:
		return "yaml"
	}
	return "binary"
}

// ParseFormat is the inverse of FormatName.
func ParseFormat(name string) (Format, bool) {
	for _, f := range []Format{Binary, Dotenv, JSON, YAML} {
		if FormatName(f) == name {
			return f, true
		}
	}
	return 0, false
}
