package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"
)

// ociRegistry is an in-memory OCI registry on 127.0.0.1 (go-containerregistry's
// pkg/registry), with an optional delay before every request, as a registry
// far away would answer, and counters of what it served.
type ociRegistry struct {
	role    string // "origin" or "mirror", for the narrative
	handler http.Handler
	srv     *http.Server
	addr    string
	served  chan struct{} // closed when Serve returned

	// mu guards the fields below.
	mu       sync.Mutex
	latency  time.Duration
	requests int
	blobs    int   // GET of a blob: a layer or an image config
	bytes    int64 // of the blobs' bodies
}

// registryCounters is what a registry served.
type registryCounters struct {
	requests, blobs int
	bytes           int64
}

func (c registryCounters) minus(o registryCounters) registryCounters {
	return registryCounters{requests: c.requests - o.requests, blobs: c.blobs - o.blobs, bytes: c.bytes - o.bytes}
}

func startRegistry(role string) (*ociRegistry, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("start %s registry: %w", role, err)
	}
	r := &ociRegistry{
		role:    role,
		handler: registry.New(registry.Logger(log.New(io.Discard, "", 0))),
		addr:    ln.Addr().String(),
		served:  make(chan struct{}),
	}
	r.srv = &http.Server{Handler: http.HandlerFunc(r.serve), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		defer close(r.served)
		_ = r.srv.Serve(ln) // ErrServerClosed on Close
	}()
	return r, nil
}

// Addr is the registry's host:port, the host part of its images' names.
func (r *ociRegistry) Addr() string { return r.addr }

// setLatency delays every request from now on by d.
func (r *ociRegistry) setLatency(d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.latency = d
}

func (r *ociRegistry) counters() registryCounters {
	r.mu.Lock()
	defer r.mu.Unlock()
	return registryCounters{requests: r.requests, blobs: r.blobs, bytes: r.bytes}
}

func (r *ociRegistry) serve(w http.ResponseWriter, req *http.Request) {
	blob := req.Method == http.MethodGet && strings.Contains(req.URL.Path, "/blobs/sha256:")
	r.mu.Lock()
	delay := r.latency
	r.requests++
	if blob {
		r.blobs++
	}
	r.mu.Unlock()
	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-req.Context().Done():
			t.Stop()
			return
		}
	}
	if blob {
		w = &countingWriter{ResponseWriter: w, reg: r}
	}
	r.handler.ServeHTTP(w, req)
}

// Close stops serving at once: the demo is ending.
func (r *ociRegistry) Close() error {
	err := r.srv.Close()
	<-r.served
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("stop %s registry: %w", r.role, err)
	}
	return nil
}

// countingWriter counts the bytes of the blobs a registry sends.
type countingWriter struct {
	http.ResponseWriter
	reg *ociRegistry
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.ResponseWriter.Write(p)
	c.reg.mu.Lock()
	c.reg.bytes += int64(n)
	c.reg.mu.Unlock()
	return n, err
}

// Unwrap lets http.ResponseController reach the real writer.
func (c *countingWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

// shutdownTimeout bounds how long the demo's servers take to stop.
const shutdownTimeout = 3 * time.Second

// closeWithin runs close and gives up waiting after shutdownTimeout.
func closeWithin(close func() error) error {
	done := make(chan error, 1)
	go func() { done <- close() }()
	select {
	case err := <-done:
		return err
	case <-time.After(shutdownTimeout):
		return context.DeadlineExceeded
	}
}
