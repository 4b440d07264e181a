package prefetch

import (
	"errors"
	"fmt"
	"strings"
)

// Reasons an image or one registry of it failed; match them with errors.Is.
var (
	// ErrNotLocal: the image is not on the node and pull_policy is never.
	ErrNotLocal = errors.New("not on the node and pull_policy is never")
	// ErrStalled: the pull made no progress for the inactivity timeout.
	ErrStalled = errors.New("no progress")
	// ErrDigestMismatch: a registry served other bits than the digest
	// asked for (pinned, or resolved at the origin).
	ErrDigestMismatch = errors.New("digest mismatch")
	// ErrUnreachable: the registry did not answer its latency probe.
	ErrUnreachable = errors.New("unreachable")
	// ErrNotFound: the registry has no such manifest (404).
	ErrNotFound = errors.New("manifest unknown")
	// ErrUnauthorized: the registry refused the credentials (401, 403).
	ErrUnauthorized = errors.New("unauthorized")
)

// Attempt is one registry an image was looked up on, and why it did not
// serve it.
type Attempt struct {
	Registry string
	Err      error
}

// ImageError says why one image is not local: each registry tried, in
// order, with its reason, or the reason no registry was tried.
type ImageError struct {
	Ref      string
	Attempts []Attempt
	Err      error // set when the image failed before or beside its attempts
}

func (e *ImageError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "image %s", e.Ref)
	if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	if len(e.Attempts) == 0 {
		if e.Err == nil {
			b.WriteString(": no registry to pull from")
		}
		return b.String()
	}
	b.WriteString(": tried ")
	for i, a := range e.Attempts {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%s (%v)", a.Registry, a.Err)
	}
	return b.String()
}

// Unwrap returns the image's own error and each attempt's, for errors.Is.
func (e *ImageError) Unwrap() []error {
	errs := make([]error, 0, len(e.Attempts)+1)
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	for _, a := range e.Attempts {
		errs = append(errs, a.Err)
	}
	return errs
}

// Tried returns the registries the image was looked up on, in order.
func (e *ImageError) Tried() []string {
	hosts := make([]string, 0, len(e.Attempts))
	for _, a := range e.Attempts {
		hosts = append(hosts, a.Registry)
	}
	return hosts
}

// Error is a prefetch that left images missing: the revision must not be
// cut over. It names each missing image with the registries tried.
type Error struct {
	Images []*ImageError
}

func (e *Error) Error() string {
	msgs := make([]string, 0, len(e.Images))
	for _, ie := range e.Images {
		msgs = append(msgs, ie.Error())
	}
	return fmt.Sprintf("prefetch: %d image(s) not local: %s", len(e.Images), strings.Join(msgs, "; "))
}

// Unwrap returns the image errors, for errors.As and errors.Is.
func (e *Error) Unwrap() []error {
	errs := make([]error, len(e.Images))
	for i, ie := range e.Images {
		errs[i] = ie
	}
	return errs
}
