// Package secrets opens the SOPS files of the repository with the node's
// age identities (secrets.age_identity_file): it unwraps a file's data key
// from the age stanzas of its metadata (combining Shamir shares when the file
// has several key groups) and lets internal/sopsfile decrypt and verify the
// rest. It never writes: the engine puts plaintext where containers mount
// it, and manifests only learns whether a file opens.
package secrets

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"filippo.io/age"
	"filippo.io/age/armor"
	"github.com/getsops/sops/v3/shamir"

	"github.com/skiffops/skiff/internal/sopsfile"
)

// ErrNoIdentity says that the node has no age identity to decrypt with.
var ErrNoIdentity = errors.New("the node has no age identity: set secrets.age_identity_file in the node configuration")

// maxIdentityFile bounds the identity file read.
const maxIdentityFile = 1 << 20

// Keyring decrypts with the identities of one file, an age identity file
// (AGE-SECRET-KEY-1… lines, as age-keygen writes them, # comments allowed):
// several identities are several lines. The file is read at each use, so a
// key added or rotated there counts at once, and no identity stays in
// memory between uses.
type Keyring struct {
	file string
}

// NewKeyring returns the keyring of an identity file; an empty path is a
// node without identities, which decrypts nothing (ErrNoIdentity).
func NewKeyring(identityFile string) *Keyring {
	return &Keyring{file: identityFile}
}

// File is the identity file, "" when there is none.
func (k *Keyring) File() string { return k.file }

// Decrypt decrypts a SOPS file of format (sopsfile.FormatName) and verifies
// its MAC.
func (k *Keyring) Decrypt(data []byte, format string) (*sopsfile.Plaintext, error) {
	f, ok := sopsfile.ParseFormat(format)
	if !ok {
		return nil, fmt.Errorf("unknown sops format %q", format)
	}
	file, err := sopsfile.Parse(data, f)
	if err != nil {
		return nil, err
	}
	if err := file.Metadata().Check(); err != nil {
		return nil, err
	}
	key, err := k.dataKey(file.Metadata())
	if err != nil {
		return nil, err
	}
	return file.Decrypt(key)
}

// CheckDecrypt decrypts a SOPS file and forgets the plaintext: whether this
// node can use it.
func (k *Keyring) CheckDecrypt(data []byte, format string) error {
	_, err := k.Decrypt(data, format)
	return err
}

// Identities reads and parses the identity file; it fails when there is
// none, or it holds no identity.
func (k *Keyring) Identities() ([]age.Identity, error) {
	if k.file == "" {
		return nil, ErrNoIdentity
	}
	f, err := os.Open(k.file)
	if err != nil {
		return nil, fmt.Errorf("read age identities: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxIdentityFile+1))
	if err != nil {
		return nil, fmt.Errorf("read age identities %s: %w", k.file, err)
	}
	if len(data) > maxIdentityFile {
		return nil, fmt.Errorf("age identities %s: more than %d bytes", k.file, maxIdentityFile)
	}
	ids, err := age.ParseIdentities(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("age identities %s: %w", k.file, err)
	}
	return ids, nil
}

// dataKey unwraps the data key: from any age key of the only key group, or
// from Shamir shares of enough groups.
func (k *Keyring) dataKey(m sopsfile.Metadata) ([]byte, error) {
	ids, err := k.Identities()
	if err != nil {
		return nil, err
	}
	var parts [][]byte
	for i, g := range m.Groups {
		part, err := unwrapGroup(g, ids)
		if err != nil {
			if !errors.Is(err, errNoMatch) {
				return nil, fmt.Errorf("key group %d: %w", i, err)
			}
			continue
		}
		parts = append(parts, part)
	}
	need := m.Threshold()
	if len(parts) < need {
		return nil, k.noMatch(m, len(parts), need)
	}
	if len(m.Groups) == 1 {
		return parts[0], nil
	}
	key, err := shamir.Combine(parts[:need])
	if err != nil {
		return nil, fmt.Errorf("combine the data key from %d Shamir shares: %w", need, err)
	}
	return key, nil
}

// errNoMatch says that no identity opens any age key of a group.
var errNoMatch = errors.New("no identity matches")

func unwrapGroup(g sopsfile.KeyGroup, ids []age.Identity) ([]byte, error) {
	for _, key := range g.Age {
		r, err := age.Decrypt(armor.NewReader(strings.NewReader(key.Enc)), ids...)
		var miss *age.NoIdentityMatchError
		switch {
		case errors.As(err, &miss):
			continue
		case err != nil:
			return nil, fmt.Errorf("data key wrapped for %s: %w", key.Recipient, err)
		}
		part, err := io.ReadAll(io.LimitReader(r, 1024))
		if err != nil {
			return nil, fmt.Errorf("data key wrapped for %s: %w", key.Recipient, err)
		}
		return part, nil
	}
	return nil, errNoMatch
}

func (k *Keyring) noMatch(m sopsfile.Metadata, opened, need int) error {
	recipients := strings.Join(m.Recipients(), ", ")
	if len(m.Groups) == 1 {
		return fmt.Errorf("no identity in %s matches the file's age recipients (%s): encrypt it for this node's recipient too (sops updatekeys, or sops --age)", k.file, recipients)
	}
	return fmt.Errorf("the identities in %s open %d of the %d key groups needed (recipients %s): encrypt it for this node's recipient too", k.file, opened, need, recipients)
}
