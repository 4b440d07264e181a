// Command skiff-test is the single binary of skiff's test image: a small HTTP
// server, plus one-shot modes that stand in for a shell inside the container.
//
// The image has no shell, so healthchecks and checks between containers call
// this binary again:
//
//	skiff-test -probe http://127.0.0.1:8080/healthz   # exit 0 on 2xx, else 1
//	skiff-test -get http://web:8080/                  # print the body, exit 0 on 2xx
//
// Endpoints: / (message and hostname), /healthz, /env, /file?path=P and
// /fetch?url=U. It must stay standard library only: it is built with
// CGO_ENABLED=0 and packed into an image without network access.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"
)

// clientTimeout bounds every outgoing request (-probe, -get, /fetch).
const clientTimeout = 10 * time.Second

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

type config struct {
	listen    string
	udp       string
	message   string
	unhealthy bool
	exitCode  int
	exitAfter time.Duration
}

// run parses the flags, runs one mode and returns the process exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("skiff-test", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg config
	fs.StringVar(&cfg.listen, "listen", ":8080", "HTTP listen `address`")
	fs.StringVar(&cfg.udp, "udp", "", "optional UDP echo listen `address`")
	fs.StringVar(&cfg.message, "message", "hello from skiff-test", "first line returned by GET /")
	fs.BoolVar(&cfg.unhealthy, "unhealthy", false, "GET /healthz answers 500")
	fs.IntVar(&cfg.exitCode, "exit", -1, "exit with this `code` after -exit-after (negative: serve until stopped)")
	fs.DurationVar(&cfg.exitAfter, "exit-after", 0, "`duration` before exiting (with -exit, or code 0 when -exit is unset)")
	probe := fs.String("probe", "", "GET `URL` once and exit 0 on 2xx, else 1")
	get := fs.String("get", "", "GET `URL` once, print the body and exit 0 on 2xx, else 1")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	switch {
	case *probe != "":
		return fetchOnce(ctx, *probe, io.Discard, stderr)
	case *get != "":
		return fetchOnce(ctx, *get, stdout, stderr)
	}
	if err := serve(ctx, cfg, stderr); err != nil {
		var exit exitError
		if errors.As(err, &exit) {
			return int(exit)
		}
		fmt.Fprintf(stderr, "skiff-test: %v\n", err)
		return 1
	}
	return 0
}

// exitError asks run to end with the given code (-exit).
type exitError int

func (e exitError) Error() string { return fmt.Sprintf("exit %d", int(e)) }

// fetchOnce GETs url, copies the body to out and returns 0 on a 2xx answer.
func fetchOnce(ctx context.Context, url string, out, stderr io.Writer) int {
	status, err := fetch(ctx, url, out)
	if err != nil {
		fmt.Fprintf(stderr, "skiff-test: %v\n", err)
		return 1
	}
	if status < 200 || status > 299 {
		fmt.Fprintf(stderr, "skiff-test: get %s: status %d\n", url, status)
		return 1
	}
	return 0
}

// fetch GETs url and copies the body to out.
func fetch(ctx context.Context, url string, out io.Writer) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, clientTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, fmt.Errorf("get %s: %w", url, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("get %s: %w", url, err)
	}
	defer resp.Body.Close()
	if _, err := io.Copy(out, resp.Body); err != nil {
		return 0, fmt.Errorf("get %s: read body: %w", url, err)
	}
	return resp.StatusCode, nil
}

// serve runs the HTTP (and UDP) servers until ctx ends or -exit fires.
func serve(ctx context.Context, cfg config, stderr io.Writer) error {
	ln, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.listen, err)
	}
	if cfg.udp != "" {
		pc, err := net.ListenPacket("udp", cfg.udp)
		if err != nil {
			ln.Close()
			return fmt.Errorf("listen udp %s: %w", cfg.udp, err)
		}
		defer pc.Close()
		go echoUDP(pc)
	}
	srv := &http.Server{Handler: newHandler(cfg), ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Fprintf(stderr, "skiff-test: listening on %s\n", ln.Addr())

	var result error
	select {
	case err := <-served:
		return fmt.Errorf("serve http: %w", err)
	case <-ctx.Done():
	case <-exitTimer(cfg):
		result = exitError(max(cfg.exitCode, 0))
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shut down http: %w", err)
	}
	return result
}

// exitTimer fires when -exit or -exit-after ask the server to end; it never
// fires otherwise.
func exitTimer(cfg config) <-chan time.Time {
	if cfg.exitCode < 0 && cfg.exitAfter <= 0 {
		return nil
	}
	return time.After(cfg.exitAfter)
}

// echoUDP answers every datagram with its own payload until pc is closed.
func echoUDP(pc net.PacketConn) {
	buf := make([]byte, 64*1024)
	for {
		n, addr, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		_, _ = pc.WriteTo(buf[:n], addr)
	}
}

func newHandler(cfg config) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		host, _ := os.Hostname()
		fmt.Fprintf(w, "%s\nhostname=%s\n", cfg.message, host)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if cfg.unhealthy {
			http.Error(w, "unhealthy", http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /env", func(w http.ResponseWriter, r *http.Request) {
		env := os.Environ()
		sort.Strings(env)
		fmt.Fprintln(w, strings.Join(env, "\n"))
	})
	mux.HandleFunc("GET /file", serveFile)
	mux.HandleFunc("GET /fetch", func(w http.ResponseWriter, r *http.Request) {
		var body strings.Builder
		status, err := fetch(r.Context(), r.URL.Query().Get("url"), &body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		w.WriteHeader(status)
		io.WriteString(w, body.String())
	})
	return mux
}

// serveFile answers with the contents of the file named by ?path=.
func serveFile(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Query().Get("path")
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		http.Error(w, err.Error(), http.StatusNotFound)
	case err != nil:
		http.Error(w, err.Error(), http.StatusInternalServerError)
	default:
		w.Write(data)
	}
}
