package engine

import (
	"errors"
	"io"
	"syscall"

	"github.com/docker/docker/client"
)

// IsUnreachable reports whether err says the engine itself went away (the
// daemon restarts, its socket is gone, the connection was reset or cut
// mid-answer) rather than that it refused what was asked. An update that
// failed for that did not fail on its merits: it is resumed once the
// engine answers, not rolled back for good.
func IsUnreachable(err error) bool {
	if err == nil {
		return false
	}
	return client.IsErrConnectionFailed(err) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)
}
