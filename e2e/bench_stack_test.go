package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// eightServices is a stack of eight independent services of the test image,
// without healthcheck: what `docker compose up -d` starts in one go.
func eightServices(image string) string {
	var b strings.Builder
	b.WriteString("services:\n")
	for i := 1; i <= 8; i++ {
		fmt.Fprintf(&b, "  s%d:\n    image: %s\n    command: [\"-listen\", \":8080\", \"-message\", \"s%d\"]\n", i, image, i)
	}
	return b.String()
}

// BenchmarkNewStackOfEight measures git push → all eight containers of a new
// stack running, with a 1 s poll interval; beside it, in the same run, the
// time `docker compose up -d` takes to start the same file, when a compose
// v2 binary is found (SKIFF_COMPOSE, else docker-compose on the PATH).
func BenchmarkNewStackOfEight(b *testing.B) {
	w := newAgentWorld(b, nil, "")
	base := w.push(b, "v0")
	w.node.start()
	w.waitApplied(b, base)
	compose := composeV2(b)
	var skiff, up []time.Duration
	b.ResetTimer()
	for i := range b.N {
		name := fmt.Sprintf("%s-n%d", w.stack, i)
		files := stackFiles(w.stack, w.image, "v0")
		files["stacks/"+name+"/compose.yaml"] = eightServices(w.image)
		start := time.Now()
		c := w.pushFiles(b, files, "a new stack of eight")
		waitFor(b, "eight containers running", time.Minute, func() (bool, string) {
			n := 0
			for cname, rc := range w.node.running() {
				if strings.HasPrefix(cname, name+"-") && rc.Revision == c {
					n++
				}
			}
			return n == 8, fmt.Sprint(n)
		})
		skiff = append(skiff, time.Since(start))
		b.StopTimer()
		w.waitApplied(b, c)
		gone := w.pushFiles(b, stackFiles(w.stack, w.image, "v0"), "remove it")
		w.waitApplied(b, gone)
		if compose != "" {
			up = append(up, composeUp(b, compose, name+"-compose", eightServices(w.image)))
		}
		b.StartTimer()
	}
	reportPercentiles(b, skiff)
	if len(up) > 0 {
		p50 := percentile(up, 0.5)
		b.ReportMetric(p50.Seconds(), "compose-p50-s")
		b.ReportMetric(percentile(skiff, 0.5).Seconds()/(2*p50.Seconds()+1), "of-target")
	}
}

// BenchmarkPushesOneSecondApart pushes a change to a healthchecked service
// every second, so that each push arrives while the previous one waits in
// its health gate: push → the pushed spec running, at a 1 s interval.
func BenchmarkPushesOneSecondApart(b *testing.B) {
	w := newAgentWorld(b, nil, "")
	c0 := w.push(b, "v0")
	w.node.start()
	w.waitApplied(b, c0)
	web := w.stack + "-web-1"
	var samples []time.Duration
	b.ResetTimer()
	next := time.Now()
	for i := range b.N {
		time.Sleep(time.Until(next))
		start := time.Now()
		next = start.Add(time.Second)
		c := w.push(b, fmt.Sprintf("v%d", i+1))
		waitFor(b, "the pushed web running", time.Minute, func() (bool, string) {
			got := w.node.running()[web]
			return got.Revision == c, got.Revision
		})
		samples = append(samples, time.Since(start))
	}
	reportPercentiles(b, samples)
}

// composeV2 returns the path of a docker compose v2 binary, or "" (the
// comparison is skipped, said once).
func composeV2(b *testing.B) string {
	path := os.Getenv("SKIFF_COMPOSE")
	if path == "" {
		path, _ = exec.LookPath("docker-compose")
	}
	if path == "" {
		b.Log("no compose binary: the comparison with docker compose up -d is skipped")
		return ""
	}
	out, err := exec.Command(path, "version", "--short").Output()
	if err != nil || !strings.HasPrefix(strings.TrimPrefix(strings.TrimSpace(string(out)), "v"), "2") {
		b.Logf("%s is not compose v2 (%q): the comparison is skipped; set SKIFF_COMPOSE", path, strings.TrimSpace(string(out)))
		return ""
	}
	return path
}

// composeUp times `compose -p project up -d` of the file, then takes it
// down again.
func composeUp(b *testing.B, compose, project, file string) time.Duration {
	b.Helper()
	dir := b.TempDir()
	path := filepath.Join(dir, "compose.yaml")
	if err := os.WriteFile(path, []byte(file), 0o644); err != nil {
		b.Fatal(err)
	}
	run := func(args ...string) {
		cmd := exec.Command(compose, append([]string{"-p", project, "-f", path}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("compose %v: %v\n%s", args, err, out)
		}
	}
	start := time.Now()
	run("up", "-d", "--quiet-pull")
	took := time.Since(start)
	run("down", "--timeout", "1")
	return took
}
