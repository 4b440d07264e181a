package testenv

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/registry"
	"github.com/docker/docker/client"
	"golang.org/x/crypto/bcrypt"
)

// registryAuth is the one user a registry started with credentials knows.
type registryAuth struct{ user, password string }

// config is the registry's auth section: htpasswd (bcrypt, the only hash
// the registry reads) for the one user; "" without a user.
func (a registryAuth) config(dir string) string {
	if a.user == "" {
		return ""
	}
	return fmt.Sprintf("auth:\n  htpasswd:\n    realm: skiff-test\n    path: %q\n", filepath.Join(dir, "htpasswd"))
}

func (a registryAuth) writeHtpasswd(dir string) error {
	hash, err := bcrypt.GenerateFromPassword([]byte(a.password), bcrypt.MinCost)
	if err != nil {
		return fmt.Errorf("htpasswd: %w", err)
	}
	return os.WriteFile(filepath.Join(dir, "htpasswd"), []byte(a.user+":"+string(hash)+"\n"), 0o600)
}

// StartAuthRegistry starts a registry, as StartRegistry does, that answers
// only requests with user's basic credentials (a Basic challenge
// otherwise), as a private registry does.
func StartAuthRegistry(dir, user, password string) (*RegistryServer, error) {
	a := registryAuth{user: user, password: password}
	if err := a.writeHtpasswd(dir); err != nil {
		return nil, fmt.Errorf("start registry: %w", err)
	}
	return startRegistry(dir, a)
}

// AuthRegistry starts a registry with credentials for t (StartAuthRegistry)
// and stops it in t.Cleanup, skipping like Registry.
func AuthRegistry(t testing.TB, user, password string) *RegistryServer {
	t.Helper()
	if _, err := registryBinary(); err != nil {
		missingDocker(t, err.Error())
	}
	r, err := StartAuthRegistry(t.TempDir(), user, password)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Errorf("registry cleanup: %v", err)
		}
	})
	return r
}

// PushImageAuth is PushImage with credentials for the registry.
func PushImageAuth(ctx context.Context, cli *client.Client, localRef, registryRef, user, password string) error {
	if err := cli.ImageTag(ctx, localRef, registryRef); err != nil {
		return fmt.Errorf("push %s as %s: tag: %w", localRef, registryRef, err)
	}
	auth, err := registry.EncodeAuthConfig(registry.AuthConfig{Username: user, Password: password})
	if err != nil {
		return fmt.Errorf("push %s: %w", registryRef, err)
	}
	stream, err := cli.ImagePush(ctx, registryRef, image.PushOptions{RegistryAuth: auth})
	if err != nil {
		return fmt.Errorf("push %s: %w", registryRef, err)
	}
	if err := readProgress(stream); err != nil {
		return fmt.Errorf("push %s: %w", registryRef, err)
	}
	return nil
}

// PullImageAuth is PullImage with an X-Registry-Auth value (base64url JSON
// credentials, as agent/engine passes it; "" for none).
func PullImageAuth(ctx context.Context, cli *client.Client, ref, auth string) error {
	stream, err := cli.ImagePull(ctx, ref, image.PullOptions{RegistryAuth: auth})
	if err != nil {
		return fmt.Errorf("pull %s: %w", ref, err)
	}
	if err := readProgress(stream); err != nil {
		return fmt.Errorf("pull %s: %w", ref, err)
	}
	return nil
}
