package testenv

import (
	"bytes"
	"fmt"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// SignWith makes the push helpers sign every commit they make with e, as
// `git commit -S` does (an armored detached OpenPGP signature in the
// commit's gpgsig header); nil stops signing.
func (s *GitHTTPServer) SignWith(e *openpgp.Entity) {
	s.pushMu.Lock()
	defer s.pushMu.Unlock()
	s.signer = e
}

func signCommit(c *object.Commit, e *openpgp.Entity) error {
	if e == nil {
		return nil
	}
	unsigned := &plumbing.MemoryObject{}
	if err := c.EncodeWithoutSignature(unsigned); err != nil {
		return fmt.Errorf("encode commit to sign: %w", err)
	}
	r, err := unsigned.Reader()
	if err != nil {
		return err
	}
	var sig bytes.Buffer
	if err := openpgp.ArmoredDetachSign(&sig, e, r, nil); err != nil {
		return fmt.Errorf("sign commit: %w", err)
	}
	c.PGPSignature = sig.String()
	return nil
}
