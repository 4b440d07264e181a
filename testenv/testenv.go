// Package testenv starts the real parts skiff is tested against, on loopback:
// the local Docker engine, a Git server over smart HTTP, OCI registries, a TCP
// fault proxy and a tiny test image built without network.
//
// Every part is a plain function returning a value with a Close method, so the
// demo program can use it too, with a thin helper beside it that takes a
// testing.TB, skips or fails as the environment demands, and registers the
// teardown in t.Cleanup.
//
// testenv is imported only by tests and by the demo program, never by the
// packages of the skiff binary (deps_test.go checks it).
package testenv

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"regexp"
	"strings"
	"testing"
)

// EnvRequireDocker names the variable that turns a missing Docker engine from a
// skip into a failure (CI sets it).
const EnvRequireDocker = "SKIFF_REQUIRE_DOCKER"

// LabelTest is the label every Docker object created by a test carries; its
// value is unique per test, so cleanup removes exactly that test's objects.
const LabelTest = "io.skiff.test"

var unsafeName = regexp.MustCompile(`[^a-z0-9]+`)

// UniqueName returns a name that is unique to this call and safe as a Compose
// project, container, network or node name: the prefix, lowercased and reduced
// to [a-z0-9-], followed by random hex.
func UniqueName(prefix string) string {
	p := strings.Trim(unsafeName.ReplaceAllString(strings.ToLower(prefix), "-"), "-")
	if len(p) > 24 {
		p = strings.TrimRight(p[:24], "-")
	}
	if p == "" {
		p = "t"
	}
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("testenv: read random: %v", err))
	}
	return p + "-" + hex.EncodeToString(b)
}

// TestName returns UniqueName for the running test.
func TestName(t testing.TB) string {
	t.Helper()
	return UniqueName(t.Name())
}

// FreeAddr returns a 127.0.0.1 address with a port that was free a moment ago,
// for servers that must be told their address before they start.
func FreeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find free port: %w", err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		return "", fmt.Errorf("find free port: %w", err)
	}
	return addr, nil
}
