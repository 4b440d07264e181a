// Command mkpkg builds skiff's .deb and .rpm with nfpm, used as a library:
// the binary, the systemd unit, the default node configuration as a
// conffile, and the maintainer scripts that create the skiff user. `make
// package` runs it; nothing of nfpm ends up in the skiff binary.
//
//	mkpkg --binary bin/skiff --version v0.1.0-3-gabc1234 [--arch amd64] [--out dist] [--formats deb,rpm]
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/goreleaser/nfpm/v2"
	_ "github.com/goreleaser/nfpm/v2/deb" // registers the deb packager
	"github.com/goreleaser/nfpm/v2/files"
	_ "github.com/goreleaser/nfpm/v2/rpm" // registers the rpm packager
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// options are mkpkg's flags.
type options struct {
	binary, version, arch, out, src string
	formats                         []string
	mtime                           time.Time
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mkpkg", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	var formats string
	fs.StringVar(&o.binary, "binary", "bin/skiff", "the skiff `binary` to package (linux, built for --arch)")
	fs.StringVar(&o.version, "version", "", "the version, as `git describe` prints it (required)")
	fs.StringVar(&o.arch, "arch", runtime.GOARCH, "the Go `architecture` the binary was built for")
	fs.StringVar(&o.out, "out", "dist", "the `directory` the packages are written to")
	fs.StringVar(&o.src, "src", ".", "the skiff source `tree` holding packaging/")
	fs.StringVar(&formats, "formats", "deb,rpm", "comma-separated package `formats`")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if o.version == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "mkpkg: --version is required and no arguments are taken")
		return 2
	}
	o.formats = strings.Split(formats, ",")
	// Reproducible packages: every file's time is the commit's, when the
	// build says so (SOURCE_DATE_EPOCH), else a fixed one.
	o.mtime = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		sec, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			fmt.Fprintf(stderr, "mkpkg: SOURCE_DATE_EPOCH=%q: %v\n", s, err)
			return 2
		}
		o.mtime = time.Unix(sec, 0).UTC()
	}
	paths, err := build(o)
	if err != nil {
		fmt.Fprintf(stderr, "mkpkg: %v\n", err)
		return 1
	}
	for _, p := range paths {
		fmt.Fprintln(stdout, p)
	}
	return 0
}

// build writes one package per format into o.out and returns their paths.
func build(o options) ([]string, error) {
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return nil, err
	}
	work, err := os.MkdirTemp("", "mkpkg-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)
	unit, err := packagedUnit(filepath.Join(o.src, "packaging", "skiff.service"), work)
	if err != nil {
		return nil, err
	}
	version, err := packageVersion(o.version)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, format := range o.formats {
		info := packageInfo(o, format, unit, version)
		p, err := writePackage(info, format, o.out)
		if err != nil {
			return out, fmt.Errorf("%s: %w", format, err)
		}
		out = append(out, p)
	}
	return out, nil
}

// packagedBinary is where packages put the binary: /usr/local is the local
// administrator's (install.sh's), never a package's.
const packagedBinary = "/usr/bin/skiff"

// packagedUnit writes the unit with ExecStart pointing at the packaged
// binary, and returns its path.
func packagedUnit(src, dir string) (string, error) {
	data, err := os.ReadFile(src)
	if err != nil {
		return "", err
	}
	const installed = "ExecStart=/usr/local/bin/skiff "
	if !strings.Contains(string(data), installed) {
		return "", fmt.Errorf("%s: no %q line to point at %s", src, installed, packagedBinary)
	}
	unit := strings.Replace(string(data), installed, "ExecStart="+packagedBinary+" ", 1)
	p := filepath.Join(dir, "skiff.service")
	return p, os.WriteFile(p, []byte(unit), 0o644)
}

var (
	describedTag = regexp.MustCompile(`^v?([0-9]+\.[0-9]+\.[0-9]+)(?:-([A-Za-z][0-9A-Za-z.]*))?(?:-([0-9]+)-g([0-9a-f]+))?(-dirty)?$`)
	describedRev = regexp.MustCompile(`^([0-9a-f]{7,40})(-dirty)?$`)
	// A tree without Git history: the Makefile's VERSION is "dev".
	describedWord = regexp.MustCompile(`^[a-z]+$`)
)

// pkgVersion is a version as dpkg and rpm sort it.
type pkgVersion struct {
	version    string // 1.2.3
	prerelease string // rc1: sorts before 1.2.3 (1.2.3~rc1)
	metadata   string // 3.gabc1234: sorts after 1.2.3 (1.2.3+3.gabc1234)
}

// packageVersion turns `git describe --tags --always --dirty` into a
// version that sorts right in dpkg and rpm: commits after a tag sort after
// it (0.1.0+3.gabc1234), a release candidate before it (0.1.0~rc1), and a
// tree without a tag is 0.0.0+git.<commit> (0.0.0+dev without Git).
func packageVersion(described string) (pkgVersion, error) {
	if m := describedTag.FindStringSubmatch(described); m != nil {
		if m[2] == "dirty" && m[3] == "" { // v1.2.3-dirty: no prerelease
			m[2], m[5] = "", "-dirty"
		}
		var meta []string
		if m[3] != "" {
			meta = append(meta, m[3], "g"+m[4])
		}
		if m[5] != "" {
			meta = append(meta, "dirty")
		}
		return pkgVersion{version: m[1], prerelease: m[2], metadata: strings.Join(meta, ".")}, nil
	}
	if m := describedRev.FindStringSubmatch(described); m != nil {
		meta := "git." + m[1]
		if m[2] != "" {
			meta += ".dirty"
		}
		return pkgVersion{version: "0.0.0", metadata: meta}, nil
	}
	if describedWord.MatchString(described) {
		return pkgVersion{version: "0.0.0", metadata: described}, nil
	}
	return pkgVersion{}, fmt.Errorf("version %q: want what git describe --tags --always --dirty prints (v1.2.3, v1.2.3-4-gabc1234, abc1234)", described)
}

func packageInfo(o options, format, unit string, v pkgVersion) *nfpm.Info {
	unitDir := "/usr/lib/systemd/system"
	if format == "deb" {
		unitDir = "/lib/systemd/system"
	}
	scripts := filepath.Join(o.src, "packaging", "scripts")
	fileInfo := func(mode os.FileMode) *files.ContentFileInfo {
		return &files.ContentFileInfo{Owner: "root", Group: "root", Mode: mode, MTime: o.mtime}
	}
	info := &nfpm.Info{
		Name:            "skiff",
		Arch:            o.arch,
		Platform:        "linux",
		Version:         v.version,
		VersionSchema:   "none",
		Prerelease:      v.prerelease,
		VersionMetadata: v.metadata,
		Release:         "1",
		Section:         "admin",
		Priority:        "optional",
		Maintainer:      "skiff maintainers <skiff@skiffops.invalid>",
		Description: "pull-based GitOps agent for Docker nodes\n" +
			"skiff follows a Git repository of region-labelled Compose manifests, pulls\n" +
			"images from the nearest registry before it changes anything, and reconciles\n" +
			"the node's containers through the Docker Engine API, from local state when\n" +
			"Git or the registries are unreachable.",
		Vendor:   "skiff",
		Homepage: "https://github.com/skiffops/skiff",
		MTime:    o.mtime,
		Overridables: nfpm.Overridables{
			// Recommended, not required: the engine may come from Docker's
			// own packages (docker-ce) or be installed later.
			Recommends: []string{"docker.io | docker-ce"},
			Contents: files.Contents{
				{Source: o.binary, Destination: packagedBinary, FileInfo: fileInfo(0o755)},
				{Source: unit, Destination: unitDir + "/skiff.service", FileInfo: fileInfo(0o644)},
				{Source: filepath.Join(o.src, "packaging", "agent.yaml"), Destination: "/etc/skiff/agent.yaml",
					Type: files.TypeConfigNoReplace, FileInfo: fileInfo(0o644)},
			},
			Scripts: nfpm.Scripts{
				PostInstall: filepath.Join(scripts, "postinstall.sh"),
				PreRemove:   filepath.Join(scripts, "preremove.sh"),
				PostRemove:  filepath.Join(scripts, "postremove.sh"),
			},
			RPM: nfpm.RPM{
				Summary: "pull-based GitOps agent for Docker nodes",
				Group:   "System Environment/Daemons",
				// Not the build machine's name: the same sources give the
				// same package.
				BuildHost: "localhost",
			},
		},
	}
	if format == "rpm" {
		info.Recommends = []string{"(docker or docker-ce or moby-engine)"}
	}
	return info
}

// writePackage builds info as format into dir under its conventional name.
func writePackage(info *nfpm.Info, format, dir string) (string, error) {
	packager, err := nfpm.Get(format)
	if err != nil {
		return "", err
	}
	info = nfpm.WithDefaults(info)
	if err := nfpm.PrepareForPackager(info, format); err != nil {
		return "", err
	}
	path := filepath.Join(dir, packager.ConventionalFileName(info))
	f, err := os.Create(path + ".tmp")
	if err != nil {
		return "", err
	}
	defer os.Remove(f.Name())
	if err := packager.Package(info, f); err != nil {
		f.Close()
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	return path, os.Rename(f.Name(), path)
}
