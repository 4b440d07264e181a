package source

import (
	"fmt"
	"os"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
)

// Verification is the outcome of a successful Verify.
type Verification struct {
	Commit      string
	Verified    bool   // false when no keyring is configured
	KeyID       string // long id of the signer's primary key, 16 hex digits
	Fingerprint string // of the signer's primary key, hex
	Signer      string // primary identity of the key, "Name (comment) <email>"
}

// Verify checks the OpenPGP signature of commit, which Fetch must have
// brought, against the keyring file, read at every call. Without a keyring
// it returns Verified false and no error. An unsigned commit matches
// ErrUnsigned; a signature that does not verify (unknown key, altered
// commit, several signatures, expired or revoked key) matches
// ErrBadSignature.
func (s *Source) Verify(commit string) (Verification, error) {
	c, err := parseCommit(commit)
	if err != nil {
		return Verification{}, fmt.Errorf("verify: %w", err)
	}
	v := Verification{Commit: c}
	if s.cfg.KeyringFile == "" {
		return v, nil
	}
	keyring, err := readKeyring(s.cfg.KeyringFile)
	if err != nil {
		return v, fmt.Errorf("verify %s: %w", short(c), err)
	}
	s.repoMu.RLock()
	defer s.repoMu.RUnlock()
	obj, err := s.commitObject(c)
	if err != nil {
		return v, fmt.Errorf("verify %s: %w", short(c), err)
	}
	if strings.TrimSpace(obj.PGPSignature) == "" {
		return v, fmt.Errorf("verify %s: %w", short(c), ErrUnsigned)
	}
	signer, err := obj.Verify(keyring)
	if err != nil {
		return v, fmt.Errorf("verify %s: %w: %w", short(c), ErrBadSignature, err)
	}
	v.Verified = true
	v.KeyID = signer.PrimaryKey.KeyIdString()
	v.Fingerprint = fmt.Sprintf("%X", signer.PrimaryKey.Fingerprint)
	if id := signer.PrimaryIdentity(); id != nil {
		v.Signer = id.Name
	}
	return v, nil
}

// readKeyring reads an armored OpenPGP keyring and checks that it holds at
// least one key.
func readKeyring(file string) (string, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("read keyring: %w", err)
	}
	keys, err := openpgp.ReadArmoredKeyRing(strings.NewReader(string(b)))
	if err != nil {
		return "", fmt.Errorf("keyring %s: %w", file, err)
	}
	if len(keys) == 0 {
		return "", fmt.Errorf("keyring %s holds no key", file)
	}
	return string(b), nil
}
