package e2e

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/skiffops/skiff/agent/api"
	"github.com/skiffops/skiff/agent/store"
)

// TestAgentStartsOnDamagedState stops the agent, damages its state
// directory one way at a time as a disk or an operator could, and starts
// it again: it starts, recovers (the revision it applied is applied again),
// says so in status where the store was lost, and leaves the running
// containers alone. The garbage store is TestAgentRebuildsACorruptStore.
func TestAgentStartsOnDamagedState(t *testing.T) {
	t.Parallel()
	w := newAgentWorld(t, nil, "")
	addr := freeAddr(t)
	c1 := w.pushFiles(t, map[string]string{
		"stacks/" + w.stack + "/motd.txt": "motd v1\n",
		"stacks/" + w.stack + "/compose.yaml": "services:\n" +
			service("web", w.image, "web", `ports: ["`+addr+`:8080"]`, `volumes: ["./motd.txt:/etc/motd.txt"]`) +
			service("worker", w.image, "worker"),
	}, "v1")
	w.node.start()
	w.waitApplied(t, c1)
	state := filepath.Join(w.node.dir, "state")
	db := filepath.Join(state, store.FileName)
	web := w.stack + "-web-1"

	cases := []struct {
		name   string
		damage func(t *testing.T)
		moved  string // prefix of the moved-aside file; "" when the store is kept
		after  func(t *testing.T)
	}{
		{"truncated store", func(t *testing.T) { truncateFile(t, db, fileSize(t, db)/2) }, "skiff.db.corrupt-", nil},
		{"zero-length store", func(t *testing.T) { truncateFile(t, db, 0) }, "skiff.db.corrupt-", nil},
		{"store of schema version 1", func(t *testing.T) { toSchemaV1(t, db) }, "", nil},
		{"store of a newer schema", func(t *testing.T) { setSchema(t, db, store.SchemaVersion+1) }, "skiff.db.newer-", nil},
		{"damaged repository file copy", func(t *testing.T) { damageCopies(t, filepath.Join(state, "files"), "motd.txt") }, "", func(t *testing.T) {
			// The running container is left alone; the copy is verified
			// and made again before the next container mounts it.
			w.node.removeContainer(web)
			waitFor(t, "web recreated with its file made again", 30*time.Second, func() (bool, string) {
				got := page(addr, "/file?path=/etc/motd.txt")
				return got == "motd v1\n", got
			})
		}},
		{"missing checkouts", func(t *testing.T) {
			if err := os.RemoveAll(filepath.Join(state, "source", "checkouts")); err != nil {
				t.Fatal(err)
			}
		}, "", func(t *testing.T) {
			c2 := w.pushFiles(t, map[string]string{"stacks/" + w.stack + "/motd.txt": "motd v1\n",
				"stacks/" + w.stack + "/compose.yaml": "services:\n" +
					service("web", w.image, "web", `ports: ["`+addr+`:8080"]`, `volumes: ["./motd.txt:/etc/motd.txt"]`) +
					service("worker", w.image, "worker 2"),
			}, "worker changes")
			w.waitApplied(t, c2)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := w.node.running()
			w.node.stop()
			tc.damage(t)
			w.node.start()
			var s api.Status
			waitFor(t, "the agent to apply what it ran again", 60*time.Second, func() (bool, string) {
				s = w.node.status()
				return s.AppliedRevision == s.WantedRevision && s.AppliedRevision != "" && s.Why == "", fmt.Sprintf("applied %s why %q", short7(s.AppliedRevision), s.Why)
			})
			if tc.moved == "" && (s.Store.Recovered || s.Store.MovedTo != "") {
				t.Errorf("store status %+v: the store was kept, not rebuilt", s.Store)
			}
			if tc.moved != "" && (!s.Store.Recovered || !strings.HasPrefix(filepath.Base(s.Store.MovedTo), tc.moved) || s.Store.Reason == "") {
				t.Errorf("store status %+v, want it moved aside as %s… with the reason", s.Store, tc.moved)
			} else if _, err := os.Stat(s.Store.MovedTo); tc.moved != "" && err != nil {
				t.Errorf("the old store was not kept: %v", err)
			}
			after := w.node.running()
			for name, c := range before {
				if after[name].ID != c.ID {
					t.Errorf("%s was touched: %v → %v", name, c, after[name])
				}
			}
			if len(after) != len(before) {
				t.Errorf("running %v, before %v", after, before)
			}
			if tc.after != nil {
				tc.after(t)
			}
		})
	}
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

func truncateFile(t *testing.T, path string, size int64) {
	t.Helper()
	if err := os.Truncate(path, size); err != nil {
		t.Fatal(err)
	}
}

// updateDB changes a stopped agent's store as bbolt sees it.
func updateDB(t *testing.T, path string, fn func(tx *bolt.Tx) error) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(fn); err != nil {
		t.Fatal(err)
	}
}

func setSchema(t *testing.T, path string, version uint64) {
	t.Helper()
	updateDB(t, path, func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("schema")).Put([]byte("version"), binary.BigEndian.AppendUint64(nil, version))
	})
}

// toSchemaV1 rewrites the store as the first release wrote it: version 1,
// failed specs as a plain commit.
func toSchemaV1(t *testing.T, path string) {
	t.Helper()
	updateDB(t, path, func(tx *bolt.Tx) error {
		failed := tx.Bucket([]byte("failed"))
		err := failed.ForEach(func(k, v []byte) error {
			var f struct{ Commit string }
			if err := json.Unmarshal(v, &f); err != nil {
				return err
			}
			return failed.Put(k, []byte(f.Commit))
		})
		if err != nil {
			return err
		}
		return tx.Bucket([]byte("schema")).Put([]byte("version"), binary.BigEndian.AppendUint64(nil, 1))
	})
}

// damageCopies overwrites, in place, every copy of the file named base.
func damageCopies(t *testing.T, dir, base string) {
	t.Helper()
	copies, err := filepath.Glob(filepath.Join(dir, "*", base))
	if err != nil || len(copies) == 0 {
		t.Fatalf("no copy of %s under %s: %v", base, dir, err)
	}
	for _, c := range copies {
		if err := os.WriteFile(c, []byte("bit rot\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
