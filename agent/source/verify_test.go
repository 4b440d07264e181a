package source

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/storage/memory"

	"github.com/skiffops/skiff/testenv"
)

func TestVerify(t *testing.T) {
	srv := testenv.GitServer(t)
	ctx := context.Background()
	trusted, stranger := newEntity(t, "Fleet Release"), newEntity(t, "Someone Else")
	s := newSource(t, Config{URL: srv.URL(), KeyringFile: writeFile(t, "keyring.asc", armoredPublic(t, trusted))})

	fetch := func(c string) {
		t.Helper()
		if err := s.Fetch(ctx, c); err != nil {
			t.Fatalf("Fetch(%s): %v", c, err)
		}
	}

	signed := pushCommit(t, srv, trusted, "signed")
	fetch(signed)
	v, err := s.Verify(signed)
	if err != nil {
		t.Fatalf("Verify of a commit signed by a trusted key: %v", err)
	}
	if !v.Verified || v.Commit != signed || v.KeyID != trusted.PrimaryKey.KeyIdString() || !strings.Contains(v.Signer, "Fleet Release") {
		t.Errorf("Verify = %+v; want verified by %s (Fleet Release)", v, trusted.PrimaryKey.KeyIdString())
	}

	unsigned, err := srv.ForcePush(map[string]string{"a": "unsigned"}, "unsigned")
	if err != nil {
		t.Fatal(err)
	}
	fetch(unsigned)
	_, err = s.Verify(unsigned)
	wantErr(t, "Verify of an unsigned commit", err, ErrUnsigned)

	foreign := pushCommit(t, srv, stranger, "foreign")
	fetch(foreign)
	_, err = s.Verify(foreign)
	wantErr(t, "Verify of a commit signed by an unknown key", err, ErrBadSignature)

	plain := newSource(t, Config{URL: srv.URL()})
	fetchWith(t, plain, foreign)
	if v, err := plain.Verify(foreign); err != nil || v.Verified {
		t.Errorf("Verify without a keyring = %+v, %v; want not verified and no error", v, err)
	}
	if _, err := s.Verify(signed); err == nil {
		t.Error("Verify of a commit no longer fetched succeeded")
	}
}

func TestVerifyRefusesATamperedCommit(t *testing.T) {
	srv := testenv.GitServer(t)
	key := newEntity(t, "Fleet Release")
	s := newSource(t, Config{URL: srv.URL(), KeyringFile: writeFile(t, "keyring.asc", armoredPublic(t, key))})
	// Sign one commit, publish another with that signature.
	c := buildCommit(t, memory.NewStorage(), key, "original")
	tampered := pushSignedAs(t, srv, c.PGPSignature, "tampered")
	fetchWith(t, s, tampered)
	_, err := s.Verify(tampered)
	wantErr(t, "Verify of a commit whose signature belongs to another", err, ErrBadSignature)
}

func fetchWith(t *testing.T, s *Source, c string) {
	t.Helper()
	if err := s.Fetch(context.Background(), c); err != nil {
		t.Fatalf("Fetch(%s): %v", c, err)
	}
}

func newEntity(t *testing.T, name string) *openpgp.Entity {
	t.Helper()
	e, err := openpgp.NewEntity(name, "test", "release@skiff.invalid", &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA})
	if err != nil {
		t.Fatalf("new OpenPGP key: %v", err)
	}
	return e
}

func armoredPublic(t *testing.T, e *openpgp.Entity) string {
	t.Helper()
	var buf bytes.Buffer
	w, err := armor.Encode(&buf, openpgp.PublicKeyType, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Serialize(w); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// pushCommit force-pushes a root commit holding one file, signed by signer,
// over HTTP with go-git, and returns its hash.
func pushCommit(t *testing.T, srv *testenv.GitHTTPServer, signer *openpgp.Entity, msg string) string {
	t.Helper()
	st := memory.NewStorage()
	return forcePush(t, srv, st, buildCommit(t, st, signer, msg))
}

// pushSignedAs force-pushes a root commit carrying the given signature.
func pushSignedAs(t *testing.T, srv *testenv.GitHTTPServer, signature, msg string) string {
	t.Helper()
	st := memory.NewStorage()
	c := buildCommit(t, st, nil, msg)
	c.PGPSignature = signature
	return forcePush(t, srv, st, c)
}

// buildCommit stores a tree with one file in st and returns a root commit of
// it, signed by signer unless nil.
func buildCommit(t *testing.T, st *memory.Storage, signer *openpgp.Entity, msg string) *object.Commit {
	t.Helper()
	blob := st.NewEncodedObject()
	blob.SetType(plumbing.BlobObject)
	w, _ := blob.Writer()
	_, _ = w.Write([]byte(msg + "\n"))
	_ = w.Close()
	blobHash, err := st.SetEncodedObject(blob)
	if err != nil {
		t.Fatal(err)
	}
	treeObj := st.NewEncodedObject()
	tree := &object.Tree{Entries: []object.TreeEntry{{Name: "fleet.yaml", Mode: filemode.Regular, Hash: blobHash}}}
	if err := tree.Encode(treeObj); err != nil {
		t.Fatal(err)
	}
	treeHash, err := st.SetEncodedObject(treeObj)
	if err != nil {
		t.Fatal(err)
	}
	sig := object.Signature{Name: testenv.GitAuthorName, Email: testenv.GitAuthorEmail, When: time.Now()}
	c := &object.Commit{Author: sig, Committer: sig, Message: msg + "\n", TreeHash: treeHash}
	if signer != nil {
		unsigned := &plumbing.MemoryObject{}
		if err := c.EncodeWithoutSignature(unsigned); err != nil {
			t.Fatal(err)
		}
		r, _ := unsigned.Reader()
		var armored bytes.Buffer
		if err := openpgp.ArmoredDetachSign(&armored, signer, r, nil); err != nil {
			t.Fatalf("sign: %v", err)
		}
		c.PGPSignature = armored.String()
	}
	return c
}

// forcePush stores c in st and force-pushes it as the branch.
func forcePush(t *testing.T, srv *testenv.GitHTTPServer, st *memory.Storage, c *object.Commit) string {
	t.Helper()
	obj := st.NewEncodedObject()
	if err := c.Encode(obj); err != nil {
		t.Fatal(err)
	}
	h, err := st.SetEncodedObject(obj)
	if err != nil {
		t.Fatal(err)
	}
	repo, err := git.Init(st, nil)
	if err != nil {
		t.Fatal(err)
	}
	branch := plumbing.NewBranchReferenceName(testenv.GitBranch)
	if err := st.SetReference(plumbing.NewHashReference(branch, h)); err != nil {
		t.Fatal(err)
	}
	if _, err := repo.CreateRemote(&config.RemoteConfig{Name: "origin", URLs: []string{srv.URL()}}); err != nil {
		t.Fatal(err)
	}
	err = repo.Push(&git.PushOptions{RemoteName: "origin", RefSpecs: []config.RefSpec{config.RefSpec("+" + branch + ":" + branch)}})
	if err != nil {
		t.Fatalf("push signed commit: %v", err)
	}
	if srv.Head() != h.String() {
		t.Fatalf("server head %s after pushing %s", srv.Head(), h)
	}
	return h.String()
}
