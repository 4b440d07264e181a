// Package sopsenc encrypts files as `sops --encrypt --age …` does, with the
// sops library itself: the test vectors of skiff's own SOPS decryption
// (internal/sopsfile, agent/secrets). It links every cloud KMS SDK that sops
// links, so only tests may import it: never the skiff binary, never testenv
// (which the demo program links).
package sopsenc

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"filippo.io/age"
	"filippo.io/age/armor"

	"github.com/getsops/sops/v3"
	"github.com/getsops/sops/v3/aes"
	sopsage "github.com/getsops/sops/v3/age"
	"github.com/getsops/sops/v3/cmd/sops/common"
	"github.com/getsops/sops/v3/cmd/sops/formats"
	"github.com/getsops/sops/v3/config"
	"github.com/getsops/sops/v3/decrypt"
	"github.com/getsops/sops/v3/keys"
	"github.com/getsops/sops/v3/version"
)

// Options are the sops command line's encryption flags that matter here.
type Options struct {
	// Groups are the key groups, each a list of age recipients; one group is
	// `sops --age r1,r2`, several are Shamir key groups.
	Groups [][]string
	// Threshold is --shamir-secret-sharing-threshold (0: every group).
	Threshold int
	// At most one rule; none means --unencrypted-suffix _unencrypted.
	UnencryptedSuffix, EncryptedSuffix, UnencryptedRegex, EncryptedRegex string
	MACOnlyEncrypted                                                     bool
}

// Encrypt encrypts plain, a document of format yaml, json, dotenv or
// binary, for the recipients of o, and returns the file sops writes.
func Encrypt(plain []byte, format string, o Options) ([]byte, error) {
	store := common.StoreForFormat(formats.FormatFromString(format), config.NewStoresConfig())
	branches, err := store.LoadPlainFile(plain)
	if err != nil {
		return nil, fmt.Errorf("load plain %s: %w", format, err)
	}
	if len(o.Groups) == 0 {
		return nil, errors.New("no recipients")
	}
	var groups []sops.KeyGroup
	for _, g := range o.Groups {
		var group sops.KeyGroup
		for _, r := range g {
			k, err := sopsage.MasterKeyFromRecipient(r)
			if err != nil {
				return nil, err
			}
			group = append(group, keys.MasterKey(k))
		}
		groups = append(groups, group)
	}
	tree := sops.Tree{Branches: branches, Metadata: sops.Metadata{
		KeyGroups: groups, ShamirThreshold: o.Threshold, Version: version.Version,
		UnencryptedSuffix: o.UnencryptedSuffix, EncryptedSuffix: o.EncryptedSuffix,
		UnencryptedRegex: o.UnencryptedRegex, EncryptedRegex: o.EncryptedRegex,
		MACOnlyEncrypted: o.MACOnlyEncrypted,
	}}
	if o.UnencryptedSuffix == "" && o.EncryptedSuffix == "" && o.UnencryptedRegex == "" && o.EncryptedRegex == "" {
		tree.Metadata.UnencryptedSuffix = sops.DefaultUnencryptedSuffix
	}
	dataKey, errs := tree.GenerateDataKey()
	if len(errs) > 0 {
		return nil, fmt.Errorf("generate data key: %w", errors.Join(errs...))
	}
	if err := common.EncryptTree(common.EncryptTreeOpts{DataKey: dataKey, Tree: &tree, Cipher: aes.NewCipher()}); err != nil {
		return nil, err
	}
	return store.EmitEncryptedFile(tree)
}

// Decrypt is `sops --decrypt` with the identities of the SOPS_AGE_KEY
// environment variable (set it with t.Setenv): what a user would see.
func Decrypt(data []byte, format string) ([]byte, error) {
	return decrypt.DataWithFormat(data, formats.FormatFromString(format))
}

// NewIdentity returns a new age X25519 identity (what age-keygen writes,
// AGE-SECRET-KEY-1…) and its recipient (age1…).
func NewIdentity() (identity, recipient string, err error) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return "", "", err
	}
	return id.String(), id.Recipient().String(), nil
}

// Unwrap opens a data key (or Shamir share) that sops wrapped for an age
// recipient: an armored age file, with the identity.
func Unwrap(enc, identity string) ([]byte, error) {
	id, err := age.ParseX25519Identity(identity)
	if err != nil {
		return nil, err
	}
	r, err := age.Decrypt(armor.NewReader(strings.NewReader(enc)), id)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}
