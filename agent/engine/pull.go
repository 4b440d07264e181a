package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/docker/docker/api/types/image"
)

// Pull pulls ref from the registry it names and returns the local image ID.
// The engine reports failures inside the progress stream, not only as the
// call's error: the stream is read to its end.
func (e *Engine) Pull(ctx context.Context, ref string) (string, error) {
	rc, err := e.cli.ImagePull(ctx, ref, image.PullOptions{})
	if err != nil {
		return "", fmt.Errorf("pull %s: %w", ref, err)
	}
	defer rc.Close()
	if err := readPullStream(rc); err != nil {
		return "", fmt.Errorf("pull %s: %w", ref, err)
	}
	ids, err := e.ImageIDs(ctx, []string{ref})
	if err != nil {
		return "", err
	}
	id, ok := ids[ref]
	if !ok {
		return "", fmt.Errorf("pull %s: the engine reported success but the image is not present", ref)
	}
	e.log.Info("image pulled", "image", ref, "id", short(id))
	return id, nil
}

// pullMessage is the part of a pull progress line skiff reads.
type pullMessage struct {
	Error       string `json:"error"`
	ErrorDetail struct {
		Message string `json:"message"`
	} `json:"errorDetail"`
}

func readPullStream(r io.Reader) error {
	dec := json.NewDecoder(r)
	for {
		var m pullMessage
		if err := dec.Decode(&m); err == io.EOF {
			return nil
		} else if err != nil {
			return fmt.Errorf("read progress: %w", err)
		}
		if m.ErrorDetail.Message != "" {
			return errors.New(m.ErrorDetail.Message)
		}
		if m.Error != "" {
			return errors.New(m.Error)
		}
	}
}
