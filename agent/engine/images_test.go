package engine

import (
	"strings"
	"testing"

	"github.com/docker/docker/api/types/image"
)

func TestCreateRef(t *testing.T) {
	a, b := "sha256:"+strings.Repeat("a", 64), "sha256:"+strings.Repeat("b", 64)
	ix := indexImages([]image.Summary{
		{ID: "sha256:web", RepoTags: []string{"registry.example.com/shop/web:1.4", "nginx:1"}, RepoDigests: []string{"registry.example.com/shop/web@" + a}},
		{ID: "sha256:api", RepoDigests: []string{"mirror.example.net:5000/shop/api@" + b}}, // pulled by digest from a mirror
		{ID: "sha256:moved", RepoTags: []string{"registry.example.com/shop/web:latest"}},
	})
	for _, tt := range []struct {
		written, id, want string
	}{
		{"nginx:1", "sha256:web", "nginx:1"},
		{"docker.io/library/nginx:1", "sha256:web", "docker.io/library/nginx:1"},
		{"registry.example.com/shop/web:1.4", "sha256:web", "registry.example.com/shop/web:1.4"},
		{"registry.example.com/shop/web@" + a, "sha256:web", "registry.example.com/shop/web@" + a},
		{"registry.example.com/shop/web:1.4@" + a, "sha256:web", "registry.example.com/shop/web:1.4@" + a},
		// the engine does not know the origin's name for the mirror's bytes
		{"registry.example.com/shop/api@" + b, "sha256:api", "sha256:api"},
		// a tag that names another image than the one looked up
		{"registry.example.com/shop/web", "sha256:web", "sha256:web"},
		{"nginx:2", "sha256:web", "sha256:web"},
		{"Not A Reference", "sha256:web", "sha256:web"},
	} {
		if got := ix.createRef(tt.written, tt.id); got != tt.want {
			t.Errorf("createRef(%q, %s) = %s, want %s", tt.written, tt.id, got, tt.want)
		}
	}
	if id, ok := ix.lookup("registry.example.com/shop/api@" + b); !ok || id != "sha256:api" {
		t.Errorf("lookup of the origin's digest = %s, %v; want the mirror's image", id, ok)
	}
}
