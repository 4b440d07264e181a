package manifests

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
)

// StacksDir is the directory of the repository holding one directory per stack.
const StacksDir = "stacks"

// ErrNoStacks refuses a revision without a stacks/ directory: a wrong
// source.path must never prune a node empty.
var ErrNoStacks = errors.New("no stacks/ directory")

// Node is what placement and interpolation know about the node a checkout
// is loaded for.
type Node struct {
	Name   string
	Region string
	Labels map[string]string
}

// Desired is the desired state of one node for one checkout.
type Desired struct {
	Fleet    Fleet
	Stacks   []Stack   // placed on the node and free of errors, sorted by name
	Problems []Problem // sorted by file and line
}

// Refused returns the sorted names of the stacks refused by an error problem.
// An agent keeps running their last good spec instead of pruning them.
func (d *Desired) Refused() []string {
	var names []string
	for _, p := range d.Problems {
		if p.Severity == Error && p.Stack != "" && !slices.Contains(names, p.Stack) {
			names = append(names, p.Stack)
		}
	}
	sort.Strings(names)
	return names
}

// Stack is one Compose project placed on the node.
type Stack struct {
	Name string // the directory name, which is the Compose project name
	Dir  string // absolute path of stacks/<name> in the checkout
	// Project is normalized and interpolated, holds only the services
	// placed on the node, has absolute paths into the checkout, env_file
	// resolved into environment and build removed.
	Project  *types.Project
	Services []Service // sorted by name
	Files    []File    // repository files the stack mounts or reads, sorted by Rel
}

// Service is what the agent needs per service besides the Compose config.
type Service struct {
	Name       string
	Image      string // canonical reference (registry host always explicit)
	Hash       string // spec hash, see hash.go
	Update     string // UpdateStopFirst or UpdateStartFirst
	Replicas   int
	PullPolicy string // always, missing or never
	// HealthGrace is how long a replica without healthcheck must run
	// without a restart to pass the health gate (x-skiff.health_grace,
	// default DefaultHealthGrace). It is not part of the spec hash.
	HealthGrace time.Duration `json:",omitzero"`
}

// Update orders of x-skiff.update.
const (
	UpdateStopFirst  = "stop-first"
	UpdateStartFirst = "start-first"
)

// File is a file or directory of the repository that a stack mounts or reads.
type File struct {
	Path   string // absolute path in the checkout, as it appears in the Project
	Rel    string // relative to the repository root, slash-separated
	Digest string // sha256:<hex> of the content; for directories, of the tree listing
	Dir    bool
	// Sops is the format (yaml, json, dotenv, binary) of a file encrypted
	// with SOPS, which the node decrypts; Digest is then that of the
	// encrypted content. Empty for plain files.
	Sops string `json:",omitempty"`
}

var projectName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

// Load returns the desired state of node for the checkout in dir. It fails
// only when the revision must be refused as a whole: no stacks/ directory,
// or an unreadable or invalid fleet.yaml (*FleetError). A stack with an
// error is reported in Problems and left out; the other stacks are returned.
func Load(dir string, node Node, opts ...LoadOption) (*Desired, error) {
	var o loadOptions
	for _, opt := range opts {
		opt(&o)
	}
	repo, names, err := openRepo(dir)
	if err != nil {
		return nil, err
	}
	fleet, err := loadFleet(repo)
	if err != nil {
		return nil, err
	}
	d := &Desired{Fleet: fleet}
	var loaded []*stackCheck
	for _, name := range names {
		c := checkStack(stackInput{repo: repo, name: name, region: node.Region, node: &node, fleet: &fleet, decrypter: o.decrypter})
		d.Problems = append(d.Problems, c.problems...)
		if c.stack != nil {
			loaded = append(loaded, c)
		}
	}
	d.Problems = append(d.Problems, crossCheck(loaded, true)...)
	d.Problems = sortProblems(d.Problems)
	refused := d.Refused()
	for _, c := range loaded {
		if !slices.Contains(refused, c.stack.Name) {
			d.Stacks = append(d.Stacks, *c.stack)
		}
	}
	return d, nil
}

// openRepo resolves dir and lists the stack directories, sorted.
func openRepo(dir string) (repo string, names []string, err error) {
	repo, err = filepath.Abs(dir)
	if err != nil {
		return "", nil, err
	}
	if real, err := filepath.EvalSymlinks(repo); err == nil {
		repo = real
	}
	ents, err := os.ReadDir(filepath.Join(repo, StacksDir))
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil, fmt.Errorf("%s: %w", repo, ErrNoStacks)
	}
	if err != nil {
		return "", nil, fmt.Errorf("read stacks: %w", err)
	}
	for _, e := range ents {
		// A symlink is listed so that it is refused rather than pruned.
		if e.IsDir() || e.Type()&fs.ModeSymlink != 0 {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return repo, names, nil
}
