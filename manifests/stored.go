package manifests

import (
	"encoding/json"
	"fmt"

	"github.com/compose-spec/compose-go/v2/types"
)

// storedStackVersion versions the encoding of a stack kept by the agent.
const storedStackVersion = 1

// storedStack is how the agent keeps an applied stack: enough to reconcile
// it at boot with no checkout and no network. Repository files are
// referenced by digest; the agent keeps copies of them by digest. What does
// not reach a container is dropped: x-* extensions (skiff's own live in
// Services), the interpolation environment and profiles.
type storedStack struct {
	Version      int             `json:"version"`
	Name         string          `json:"name"`
	Dir          string          `json:"dir"`
	WorkingDir   string          `json:"working_dir"`
	ComposeFiles []string        `json:"compose_files"`
	Project      json.RawMessage `json:"project"` // compose-go's JSON of the project
	Services     []Service       `json:"services"`
	Files        []File          `json:"files"`
}

// MarshalStored encodes the stack for the agent's store.
func (s Stack) MarshalStored() ([]byte, error) {
	p, err := s.Project.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("encode stack %s: %w", s.Name, err)
	}
	return json.Marshal(storedStack{
		Version: storedStackVersion, Name: s.Name, Dir: s.Dir,
		WorkingDir: s.Project.WorkingDir, ComposeFiles: s.Project.ComposeFiles,
		Project: p, Services: s.Services, Files: s.Files,
	})
}

// UnmarshalStoredStack restores a stack encoded by MarshalStored.
func UnmarshalStoredStack(b []byte) (Stack, error) {
	var st storedStack
	if err := json.Unmarshal(b, &st); err != nil {
		return Stack{}, fmt.Errorf("decode stored stack: %w", err)
	}
	if st.Version != storedStackVersion {
		return Stack{}, fmt.Errorf("decode stored stack %s: unknown encoding version %d", st.Name, st.Version)
	}
	var p types.Project
	if err := json.Unmarshal(st.Project, &p); err != nil {
		return Stack{}, fmt.Errorf("decode stored stack %s: %w", st.Name, err)
	}
	for name, svc := range p.Services {
		svc.Name = name // the service's name is its key, not part of its JSON
		p.Services[name] = svc
	}
	p.WorkingDir, p.ComposeFiles = st.WorkingDir, st.ComposeFiles
	return Stack{Name: st.Name, Dir: st.Dir, Project: &p, Services: st.Services, Files: st.Files}, nil
}
