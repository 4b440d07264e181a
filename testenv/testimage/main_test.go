package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestHandler(t *testing.T) {
	t.Setenv("SKIFF_TEST_VAR", "from-env")
	file := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(file, []byte("s3cret"), 0o600); err != nil {
		t.Fatal(err)
	}
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "upstream body")
	}))
	t.Cleanup(upstream.Close)
	healthy := httptest.NewServer(newHandler(config{message: "hi there"}))
	t.Cleanup(healthy.Close)
	sick := httptest.NewServer(newHandler(config{unhealthy: true}))
	t.Cleanup(sick.Close)

	tests := []struct {
		name       string
		url        string
		wantStatus int
		wantBody   string
	}{
		{"root", healthy.URL + "/", 200, "hi there\nhostname="},
		{"unknown path", healthy.URL + "/nope", 404, ""},
		{"healthy", healthy.URL + "/healthz", 200, "ok"},
		{"unhealthy", sick.URL + "/healthz", 500, "unhealthy"},
		{"env", healthy.URL + "/env", 200, "SKIFF_TEST_VAR=from-env\n"},
		{"file", healthy.URL + "/file?path=" + url.QueryEscape(file), 200, "s3cret"},
		{"missing file", healthy.URL + "/file?path=/does/not/exist", 404, ""},
		{"fetch", healthy.URL + "/fetch?url=" + url.QueryEscape(upstream.URL), 200, "upstream body"},
		{"fetch unreachable", healthy.URL + "/fetch?url=" + url.QueryEscape("http://127.0.0.1:1/"), 502, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := httpGet(t, tt.url)
			if status != tt.wantStatus || !strings.Contains(body, tt.wantBody) {
				t.Errorf("GET %s = %d %q, want %d containing %q", tt.url, status, body, tt.wantStatus, tt.wantBody)
			}
		})
	}
}

func TestOneShotModes(t *testing.T) {
	ok := httptest.NewServer(newHandler(config{message: "one shot"}))
	t.Cleanup(ok.Close)
	sick := httptest.NewServer(newHandler(config{unhealthy: true}))
	t.Cleanup(sick.Close)

	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  string
	}{
		{"probe healthy", []string{"-probe", ok.URL + "/healthz"}, 0, ""},
		{"probe unhealthy", []string{"-probe", sick.URL + "/healthz"}, 1, ""},
		{"probe unreachable", []string{"-probe", "http://127.0.0.1:1/"}, 1, ""},
		{"get prints body", []string{"-get", ok.URL + "/"}, 0, "one shot\n"},
		{"get 404", []string{"-get", ok.URL + "/nope"}, 1, ""},
		{"bad flag", []string{"-nope"}, 2, ""},
		{"exit code", []string{"-listen", "127.0.0.1:0", "-exit", "3"}, 3, ""},
		{"exit after", []string{"-listen", "127.0.0.1:0", "-exit", "0", "-exit-after", "50ms"}, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out strings.Builder
			code := run(context.Background(), tt.args, &out, io.Discard)
			if code != tt.wantCode || !strings.Contains(out.String(), tt.wantOut) {
				t.Errorf("run(%q) = %d with output %q, want %d containing %q", tt.args, code, out.String(), tt.wantCode, tt.wantOut)
			}
		})
	}
}

func TestServeStopsOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"-listen", "127.0.0.1:0"}, io.Discard, io.Discard) }()
	time.Sleep(50 * time.Millisecond)
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit code after cancel = %d, want 0", code)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("server did not stop after its context ended")
	}
}

func TestEchoUDP(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go echoUDP(pc)

	conn, err := net.Dial("udp", pc.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if err := conn.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(buf[:n]); got != "ping" {
		t.Errorf("echo = %q, want %q", got, "ping")
	}
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: read body: %v", url, err)
	}
	return resp.StatusCode, string(body)
}
