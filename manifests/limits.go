package manifests

import (
	"fmt"
	"io"
	"os"
)

// Limits on what a revision may make the agent read. A push is input from
// whoever may push: a file the size of a disk must be refused with an error
// naming it, not read into memory, copied to the node and mounted.
const (
	// MaxYAMLSize bounds compose.yaml, its overlays, .env and fleet.yaml.
	MaxYAMLSize = 1 << 20
	// MaxRepositoryFileSize bounds one repository file that a stack mounts
	// or reads (bind source, env_file, secret, config), alone or inside a
	// bound directory.
	MaxRepositoryFileSize = 64 << 20
)

// readLimited reads a file of at most limit bytes; a larger one is an error
// that says the size and the limit.
func readLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, tooLarge(f, limit)
	}
	return data, nil
}

func tooLarge(f *os.File, limit int64) error {
	size := "more than " + sizeString(limit)
	if fi, err := f.Stat(); err == nil {
		size = sizeString(fi.Size())
	}
	return fmt.Errorf("file is %s, over skiff's limit of %s", size, sizeString(limit))
}

// checkSize refuses a repository file over MaxRepositoryFileSize.
func checkSize(rel string, size int64) error {
	if size > MaxRepositoryFileSize {
		return fmt.Errorf("%s is %s, over skiff's limit of %s for a repository file: keep large data out of the repository (an image, or a volume)",
			rel, sizeString(size), sizeString(MaxRepositoryFileSize))
	}
	return nil
}

func sizeString(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}
