package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/skiffops/skiff/agent"
)

// runConfig is `skiff config check`: it loads and validates a node
// configuration (file, then flags) exactly as `skiff agent` does at start,
// and runs nothing. install.sh checks the file it writes with it.
func runConfig(_ context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "check" {
		fmt.Fprintln(stderr, "usage: skiff config check [--config FILE] [config flags]")
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			return exitOK
		}
		return exitUsage
	}
	fs := newFlagSet("config check", "[--config FILE] [config flags]", stderr)
	cf := bindConfigFlags(fs)
	if code, ok := parseFlags(fs, args[1:]); !ok {
		return code
	}
	cfg, err := cf.load()
	if err != nil {
		fmt.Fprintf(stderr, "skiff config check: %v\n", err)
		return exitFailure
	}
	path := cf.path
	if path == "" {
		path = defaultConfigPath
	}
	fmt.Fprintf(stdout, "%s: ok: node %s in region %s follows %s (branch %s) every %s\n",
		path, cfg.Node, cfg.Region, cfg.Source.URL, cfg.Source.Branch, cfg.Source.Interval)
	for _, w := range missingFiles(cfg) {
		fmt.Fprintf(stderr, "skiff config check: warning: %s\n", w)
	}
	return exitOK
}

// missingFiles names the files the configuration refers to that cannot be
// read here. They are warnings: a configuration may be written before the
// files are put in place (or into another root).
func missingFiles(cfg agent.Config) []string {
	var out []string
	files := []struct{ field, path string }{
		{"source.auth.password_file", cfg.Source.Auth.PasswordFile},
		{"source.auth.ssh_key_file", cfg.Source.Auth.SSHKeyFile},
		{"source.auth.known_hosts_file", cfg.Source.Auth.KnownHostsFile},
		{"source.verify.keyring_file", cfg.Source.Verify.KeyringFile},
		{"docker.config_file", cfg.Docker.ConfigFile},
		{"secrets.age_identity_file", cfg.Secrets.AgeIdentityFile},
	}
	for i, n := range cfg.Notify {
		files = append(files, struct{ field, path string }{fmt.Sprintf("notify[%d].url_file", i), n.URLFile})
	}
	for _, f := range files {
		if f.path == "" {
			continue
		}
		if _, err := os.Stat(f.path); errors.Is(err, fs.ErrNotExist) {
			out = append(out, fmt.Sprintf("%s: %s does not exist (yet)", f.field, f.path))
		} else if err != nil {
			out = append(out, fmt.Sprintf("%s: %v", f.field, err))
		}
	}
	return out
}
