package source

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/skiffops/skiff/testenv"
)

const testPassword = "s3cr3t-Pa55w0rd"

func TestBasicAuth(t *testing.T) {
	srv := testenv.GitServer(t)
	srv.RequireBasicAuth("fleet", testPassword)
	push(t, srv, map[string]string{"a": "1"}) // the push helpers use the credentials
	ctx := context.Background()
	var errs []error

	anonymous := newSource(t, Config{URL: srv.URL()})
	_, err := anonymous.Head(ctx)
	wantErr(t, "Head without credentials", err, ErrAuth)
	errs = append(errs, err, anonymous.Fetch(ctx, srv.Head()))

	wrong := newSource(t, Config{URL: srv.URL(), Username: "fleet", PasswordFile: writeFile(t, "wrong", "not-"+testPassword)})
	_, err = wrong.Head(ctx)
	wantErr(t, "Head with a wrong password", err, ErrAuth)
	errs = append(errs, err)
	if strings.Contains(err.Error(), "not-"+testPassword) {
		t.Errorf("error shows the wrong password: %v", err)
	}

	s := newSource(t, Config{URL: srv.URL(), Username: "fleet", PasswordFile: writeFile(t, "password", testPassword+"\n")})
	head, dir := pull(t, s)
	if head != srv.Head() {
		t.Errorf("Head with credentials = %s, want %s", head, srv.Head())
	}
	wantTree(t, dir, map[string]string{"a": "1"})

	if err := srv.SetDown(true); err != nil {
		t.Fatal(err)
	}
	_, err = s.Head(ctx)
	wantErr(t, "Head with credentials, server down", err, ErrUnreachable)
	errs = append(errs, err)
	for _, err := range errs {
		if err == nil {
			t.Error("a call that should fail succeeded")
		} else if strings.Contains(err.Error(), testPassword) {
			t.Errorf("error shows the password: %v", err)
		}
	}
}

func TestTokenOnly(t *testing.T) {
	srv := testenv.GitServer(t)
	srv.RequireBasicAuth(tokenUser, testPassword)
	want := push(t, srv, map[string]string{"a": "1"})
	s := newSource(t, Config{URL: srv.URL(), PasswordFile: writeFile(t, "token", testPassword)})
	if got, err := s.Head(context.Background()); err != nil || got != want {
		t.Errorf("Head with a token only = %s, %v; want %s", got, err, want)
	}
}

func TestScrubRemovesTheSecretButKeepsTheChain(t *testing.T) {
	err := scrub(fmt.Errorf("ls-remote x: %w: bad password %s", ErrAuth, testPassword), testPassword)
	if strings.Contains(err.Error(), testPassword) || !errors.Is(err, ErrAuth) {
		t.Errorf("scrub = %q, errors.Is(ErrAuth) = %t", err, errors.Is(err, ErrAuth))
	}
	plain := errors.New("plain")
	if scrub(plain, "") != plain || scrub(plain, testPassword) != plain {
		t.Error("scrub changed an error without the secret")
	}
}

func TestKind(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want error
	}{
		{fmt.Errorf("x: %w", transport.ErrAuthenticationRequired), ErrAuth},
		{transport.ErrAuthorizationFailed, ErrAuth},
		{errors.New("ssh: handshake failed: ssh: unable to authenticate, attempted methods [none publickey]"), ErrAuth},
		{fmt.Errorf("ssh: handshake failed: %w", &knownhosts.KeyError{}), ErrAuth},
		{transport.ErrEmptyRemoteRepository, ErrNoBranch},
		{fmt.Errorf("fetch: %w", git.NoMatchingRefSpecError{}), ErrNoBranch},
		{&net.OpError{Op: "dial", Err: errors.New("connection refused")}, ErrUnreachable},
		{transport.ErrRepositoryNotFound, ErrUnreachable},
	} {
		if got := kind(tc.err); got != tc.want {
			t.Errorf("kind(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
	if got := kind(fmt.Errorf("branch x: %w", ErrNoBranch)); got != nil {
		t.Errorf("kind of an ErrNoBranch = %v, want nil (already wrapped)", got)
	}
}

func TestNewRefuses(t *testing.T) {
	dir := t.TempDir()
	key, knownHosts := sshFiles(t, "127.0.0.1:2222")
	garbage := writeFile(t, "garbage", "not a key\n")
	empty := writeFile(t, "empty", "  \n")
	for _, tc := range []struct {
		name string
		cfg  Config
		want string // in the error
	}{
		{"no url", Config{}, "url is required"},
		{"password in url", Config{URL: "https://u:" + testPassword + "@h/r.git"}, "password"},
		{"bad scheme", Config{URL: "ftp://h/r.git"}, "scheme"},
		{"relative file", Config{URL: "file://relative/r.git"}, "absolute"},
		{"bad branch", Config{URL: "https://h/r.git", Branch: "a..b"}, "branch"},
		{"negative timeout", Config{URL: "https://h/r.git", Timeout: -1}, "timeout"},
		{"ssh without key", Config{URL: "ssh://git@h/r.git"}, "ssh key file"},
		{"ssh with password", Config{URL: "ssh://git@h/r.git", SSHKeyFile: key, PasswordFile: empty}, "http(s)"},
		{"https with ssh key", Config{URL: "https://h/r.git", SSHKeyFile: key}, "ssh URLs"},
		{"file with credentials", Config{URL: "file:///srv/r.git", Username: "u"}, "file URLs"},
		{"missing password file", Config{URL: "https://h/r.git", PasswordFile: filepath.Join(dir, "nope")}, filepath.Join(dir, "nope")},
		{"empty password file", Config{URL: "https://h/r.git", PasswordFile: empty}, "empty"},
		{"garbage ssh key", Config{URL: "ssh://git@h/r.git", SSHKeyFile: garbage, KnownHostsFile: knownHosts}, garbage},
		{"missing known_hosts", Config{URL: "ssh://git@h/r.git", SSHKeyFile: key, KnownHostsFile: filepath.Join(dir, "kh")}, filepath.Join(dir, "kh")},
		{"garbage known_hosts", Config{URL: "ssh://git@h/r.git", SSHKeyFile: key, KnownHostsFile: writeFile(t, "kh", "h ssh-ed25519 !!!\n")}, "kh"},
		{"garbage keyring", Config{URL: "https://h/r.git", KeyringFile: garbage}, garbage},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.cfg.Dir == "" {
				tc.cfg.Dir = dir
			}
			_, err := New(tc.cfg, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New: %v; want an error naming %q", err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), testPassword) {
				t.Errorf("error shows the password: %v", err)
			}
		})
	}
}

func TestSSHAuth(t *testing.T) {
	key, knownHosts := sshFiles(t, "git.example.com:2222")
	for url, user := range map[string]string{
		"ssh://git.example.com:2222/org/fleet.git":        sshUser,
		"ssh://deploy@git.example.com:2222/org/fleet.git": "deploy",
		"deploy@git.example.com:org/fleet.git":            "deploy",
	} {
		s := newSource(t, Config{URL: url, SSHKeyFile: key, KnownHostsFile: knownHosts, Timeout: 7e9})
		a, _, err := s.auth()
		if err != nil {
			t.Fatalf("%s: auth: %v", url, err)
		}
		keys, ok := a.(*sshKeys)
		if !ok || keys.User != user {
			t.Fatalf("%s: auth = %T %v, want ssh keys for user %s", url, a, a, user)
		}
		cc, err := keys.ClientConfig()
		if err != nil || cc.Timeout != 7e9 || cc.User != user {
			t.Errorf("%s: client config %+v, %v; want user %s and the timeout", url, cc, err, user)
		}
	}

	s := newSource(t, Config{URL: "ssh://git.example.com:2222/r.git", SSHKeyFile: key, KnownHostsFile: knownHosts})
	a, _, _ := s.auth()
	cc, _ := a.(*sshKeys).ClientConfig()
	addr := &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 2222}
	if err := cc.HostKeyCallback("git.example.com:2222", addr, hostKey(t, knownHosts)); err != nil {
		t.Errorf("the known host key was refused: %v", err)
	}
	other := newSigner(t).PublicKey()
	err := cc.HostKeyCallback("git.example.com:2222", addr, other)
	if err == nil || kind(err) != ErrAuth {
		t.Errorf("another host key: %v (kind %v); want a refusal reported as ErrAuth", err, kind(err))
	}
	if err := cc.HostKeyCallback("unknown.example.com:22", addr, other); err == nil {
		t.Error("an unknown host was accepted")
	}
}

func TestSSHRefusedIsUnreachable(t *testing.T) {
	addr, err := testenv.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	key, knownHosts := sshFiles(t, addr)
	s := newSource(t, Config{URL: "ssh://git@" + addr + "/fleet.git", SSHKeyFile: key, KnownHostsFile: knownHosts})
	_, err = s.Head(context.Background())
	wantErr(t, "Head of a closed ssh port", err, ErrUnreachable)
}

// sshFiles writes a new private key and a known_hosts file holding a host
// key for hostPort.
func sshFiles(t *testing.T, hostPort string) (keyFile, knownHostsFile string) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	keyFile = writeFile(t, "id_ed25519", string(pem.EncodeToMemory(block)))
	line := knownhosts.Line([]string{knownhosts.Normalize(hostPort)}, newSigner(t).PublicKey())
	knownHostsFile = writeFile(t, "known_hosts", line+"\n")
	return keyFile, knownHostsFile
}

func newSigner(t *testing.T) ssh.Signer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// hostKey reads back the key of the first line of a known_hosts file.
func hostKey(t *testing.T, file string) ssh.PublicKey {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	_, _, key, _, _, err := ssh.ParseKnownHosts(b)
	if err != nil {
		t.Fatal(err)
	}
	return key
}
