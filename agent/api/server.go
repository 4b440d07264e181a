package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// Provider is what the API serves: the agent implements it. Its methods
// answer from memory and the store, never waiting on Git, registries or a
// slow Docker call, so the API answers at once during a partition.
type Provider interface {
	Status(ctx context.Context) Status
	History(ctx context.Context, limit int) (History, error)
	// Sync asks for a poll now; it returns at once.
	Sync()
	// Plan is a dry run of the next reconcile of the node's desired state.
	// Unlike the others it asks the Docker engine.
	Plan(ctx context.Context) (Plan, error)
}

// SocketMode is the mode of the API socket: the agent's user and group.
const SocketMode = 0o660

const (
	defaultHistoryLimit = 50
	shutdownTimeout     = 5 * time.Second
)

// Server serves the API on a unix socket.
type Server struct {
	srv  *http.Server
	ln   net.Listener
	path string
}

// Listen opens the socket at path, replacing a stale socket file left by a
// dead agent but refusing to steal one a live agent answers on.
func Listen(path string, p Provider, log *slog.Logger) (*Server, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("api socket: %w", err)
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return nil, fmt.Errorf("api socket %s: another agent answers on it", path)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("api socket: remove stale %s: %w", path, err)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("api socket: %w", err)
	}
	if err := os.Chmod(path, SocketMode); err != nil {
		ln.Close()
		return nil, fmt.Errorf("api socket: %w", err)
	}
	h := &handler{p: p, log: log.With("component", "api")}
	return &Server{
		srv:  &http.Server{Handler: h.routes(), ReadHeaderTimeout: 5 * time.Second},
		ln:   ln,
		path: path,
	}, nil
}

// Serve answers requests until Shutdown.
func (s *Server) Serve() error {
	if err := s.srv.Serve(s.ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("api: %w", err)
	}
	return nil
}

// Shutdown stops the server and removes its socket.
func (s *Server) Shutdown(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, shutdownTimeout)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if rerr := os.Remove(s.path); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
		err = errors.Join(err, rerr)
	}
	return err
}

type handler struct {
	p   Provider
	log *slog.Logger
}

func (h *handler) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/status", h.status)
	mux.HandleFunc("GET /v1/history", h.history)
	mux.HandleFunc("POST /v1/sync", h.sync)
	mux.HandleFunc("GET /v1/plan", h.plan)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no such endpoint: %s %s", r.Method, r.URL.Path))
	})
	return mux
}

func (h *handler) status(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, h.p.Status(r.Context()))
}

func (h *handler) history(w http.ResponseWriter, r *http.Request) {
	limit := defaultHistoryLimit
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("limit must be a positive integer, got %q", v))
			return
		}
		limit = n
	}
	hist, err := h.p.History(r.Context(), limit)
	if err != nil {
		h.log.Warn("history failed", "error", err)
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, hist)
}

func (h *handler) plan(w http.ResponseWriter, r *http.Request) {
	p, err := h.p.Plan(r.Context())
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, p)
}

func (h *handler) sync(w http.ResponseWriter, _ *http.Request) {
	h.p.Sync()
	writeJSON(w, http.StatusAccepted, map[string]bool{"requested": true})
}

// apiError is the body of every error answer.
type apiError struct {
	Error string `json:"error"`
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, apiError{Error: msg})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v) // the client went away: nothing to do
}
