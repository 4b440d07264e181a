package e2e

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/skiffops/skiff/testenv"
)

// The agent's benchmarks run the binary as shipped against the real test
// world. Run them with a fixed count of samples: -benchtime=20x.

// BenchmarkPushToRunning measures git push → the changed container running,
// with a 1 s poll interval, over smart HTTP.
func BenchmarkPushToRunning(b *testing.B) {
	w := newAgentWorld(b, nil, "")
	benchPushToRunning(b, w)
}

// BenchmarkPushToRunningFileWatch is the same with a file:// source and an
// interval of an hour: fsnotify on the branch's ref triggers the sync.
func BenchmarkPushToRunningFileWatch(b *testing.B) {
	w := newAgentWorld(b, func(g *testenv.GitHTTPServer) string { return "file://" + g.BareDir() }, "")
	setInterval(b, w.node, "1h")
	benchPushToRunning(b, w)
}

func benchPushToRunning(b *testing.B, w *world) {
	c0 := w.push(b, "v0")
	w.node.start()
	w.waitRevision(b, c0)
	web := w.stack + "-web-1"
	var samples []time.Duration
	b.ResetTimer()
	for i := range b.N {
		start := time.Now()
		c := w.push(b, fmt.Sprintf("v%d", i+1))
		waitFor(b, "the new web container", time.Minute, func() (bool, string) {
			got := w.node.running()[web]
			return got.Revision == c, got.Revision
		})
		samples = append(samples, time.Since(start))
		b.StopTimer()
		waitFor(b, "the revision to be applied", time.Minute, func() (bool, string) {
			s := w.node.status()
			return s.AppliedRevision == c && s.Pending == nil, s.AppliedRevision
		})
		b.StartTimer()
	}
	reportPercentiles(b, samples)
}

func reportPercentiles(b *testing.B, samples []time.Duration) {
	b.ReportMetric(percentile(samples, 0.5).Seconds(), "p50-s")
	b.ReportMetric(percentile(samples, 0.95).Seconds(), "p95-s")
	b.ReportMetric(0, "ns/op") // the percentiles are the figures
}

// percentile returns the p-quantile (0..1) of samples, which it sorts.
func percentile(samples []time.Duration, p float64) time.Duration {
	slices.Sort(samples)
	return samples[int(p*float64(len(samples)-1))]
}

// BenchmarkIdlePoll measures what a poll that finds nothing new costs the
// agent over ten 1 s polls: CPU, bytes written to disk, Git fetches and
// store writes (the store file must not change).
func BenchmarkIdlePoll(b *testing.B) {
	w := newAgentWorld(b, nil, "")
	c := w.push(b, "v1")
	w.node.start()
	w.waitRevision(b, c)
	time.Sleep(2 * time.Second) // let the first healing round pass
	pid := w.node.cmd.Process.Pid
	db := filepath.Join(w.node.dir, "state", "skiff.db")
	b.ResetTimer()
	var cpu time.Duration
	var written int64
	var polls, fetches, storeWrites uint64
	for range b.N {
		before, reqs, dbInfo := w.node.status().Counters.Polls, w.git.Requests(), statFile(b, db)
		cpu0, w0 := procCPU(b, pid), procWrites(b, pid)
		time.Sleep(10 * time.Second)
		cpu += procCPU(b, pid) - cpu0
		written += procWrites(b, pid) - w0
		polls += w.node.status().Counters.Polls - before
		fetches += uint64(w.git.Requests().UploadPack - reqs.UploadPack)
		if now := statFile(b, db); !now.ModTime().Equal(dbInfo.ModTime()) || now.Size() != dbInfo.Size() {
			storeWrites++
		}
	}
	b.ReportMetric(float64(cpu.Microseconds())/1000/float64(polls), "cpu-ms/poll")
	b.ReportMetric(float64(written)/float64(polls), "disk-B/poll")
	b.ReportMetric(float64(fetches)/float64(polls), "fetches/poll")
	b.ReportMetric(float64(storeWrites), "store-writes")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkIdleRSS measures the agent's resident memory, idle, with 10
// containers to look after.
func BenchmarkIdleRSS(b *testing.B) {
	w := newAgentWorld(b, nil, "")
	files := map[string]string{}
	var svc strings.Builder
	for i := range 10 {
		fmt.Fprintf(&svc, "  app%d:\n    image: %s\n    command: [\"-listen\", \":8080\"]\n", i, w.image)
	}
	files["stacks/"+w.stack+"/compose.yaml"] = "services:\n" + svc.String()
	if _, err := w.git.Push(files, "ten services"); err != nil {
		b.Fatal(err)
	}
	w.node.start()
	waitFor(b, "ten running containers", 2*time.Minute, func() (bool, string) {
		n := len(w.node.running())
		return n == 10, strconv.Itoa(n)
	})
	var rss, anon int64
	for range b.N {
		time.Sleep(12 * time.Second) // a healing round and several polls
		pid := w.node.cmd.Process.Pid
		rss = max(rss, procRSS(b, pid))
		anon = max(anon, procField(b, fmt.Sprintf("/proc/%d/status", pid), "RssAnon:")*1024)
	}
	b.ReportMetric(float64(rss)/1e6, "rss-MB")
	b.ReportMetric(float64(anon)/1e6, "anon-MB") // heap and stacks; the rest is the binary's mapped code
	b.ReportMetric(0, "ns/op")
}

// BenchmarkOfflineBoot measures a start with Git unreachable and a container
// to restore: from the process start to READY=1 on the notify socket, which
// the agent sends when its boot reconcile from the store is done.
func BenchmarkOfflineBoot(b *testing.B) {
	w := newAgentWorld(b, nil, "")
	c := w.push(b, "v1")
	w.node.start()
	w.waitRevision(b, c)
	if err := w.git.SetDown(true); err != nil {
		b.Fatal(err)
	}
	notify := listenNotify(b)
	w.node.env2 = []string{"NOTIFY_SOCKET=" + notify.LocalAddr().String()}
	var samples []time.Duration
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		w.node.kill()
		w.node.removeContainer(w.stack + "-web-1")
		b.StartTimer()
		start := time.Now()
		w.node.start()
		waitReady(b, notify)
		samples = append(samples, time.Since(start))
		b.StopTimer()
		w.waitRevision(b, c)
		b.StartTimer()
	}
	reportPercentiles(b, samples)
}

func listenNotify(b *testing.B) *net.UnixConn {
	b.Helper()
	path := filepath.Join(b.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close() })
	return conn
}

func waitReady(b *testing.B, conn *net.UnixConn) {
	b.Helper()
	buf := make([]byte, 4096)
	for {
		_ = conn.SetReadDeadline(time.Now().Add(time.Minute))
		n, err := conn.Read(buf)
		if err != nil {
			b.Fatalf("no READY=1 from the agent: %v", err)
		}
		if strings.Contains(string(buf[:n]), "READY=1") {
			return
		}
	}
}

func statFile(b *testing.B, path string) os.FileInfo {
	b.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	return fi
}

// procCPU is the process's user+system CPU time, from /proc/PID/stat.
func procCPU(b *testing.B, pid int) time.Duration {
	b.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// The command name may hold spaces: fields count from after ")".
	fields := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+1:]))
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / 100 // USER_HZ is 100 on Linux
}

// procWrites is what the process caused to be written to storage.
func procWrites(b *testing.B, pid int) int64 {
	b.Helper()
	return procField(b, fmt.Sprintf("/proc/%d/io", pid), "write_bytes:")
}

// procRSS is the process's resident set size, in bytes.
func procRSS(b *testing.B, pid int) int64 {
	b.Helper()
	return procField(b, fmt.Sprintf("/proc/%d/status", pid), "VmRSS:") * 1024
}

func procField(b *testing.B, path, key string) int64 {
	b.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, key); ok {
			v, _ := strconv.ParseInt(strings.Fields(rest)[0], 10, 64)
			return v
		}
	}
	b.Fatalf("%s has no %s", path, key)
	return 0
}
