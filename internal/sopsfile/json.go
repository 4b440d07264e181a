package sopsfile

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// maxJSONDepth bounds the nesting of a JSON document.
const maxJSONDepth = 256

// parseJSON reads a JSON document (or a binary file's JSON envelope) in
// order, as sops' JSON store does: integers that fit 64 bits are ints, other
// numbers floats, and the top level is an object.
func parseJSON(data []byte, f Format) (*File, mapping, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	t, err := dec.Token()
	if err != nil {
		return nil, nil, fmt.Errorf("parse JSON: %w", err)
	}
	if d, ok := t.(json.Delim); !ok || d != '{' {
		return nil, nil, errors.New("parse JSON: the top level must be an object")
	}
	top, err := jsonObject(dec, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("parse JSON: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, nil, errors.New("parse JSON: data after the top-level object")
	}
	var meta mapping
	if v, ok := top.get("sops"); ok {
		if meta, ok = v.(mapping); !ok {
			return nil, nil, errors.New("the sops entry is not an object")
		}
	}
	doc := top.without("sops")
	if f == Binary {
		if v, ok := doc.get("data"); !ok || !isString(v) {
			return nil, nil, errors.New(`a binary sops file holds its data as a string under "data"`)
		}
	}
	return &File{docs: []mapping{doc}}, meta, nil
}

func isString(v any) bool {
	s, ok := v.(*scalar)
	if !ok {
		return false
	}
	_, ok = s.v.(string)
	return ok
}

func jsonObject(dec *json.Decoder, depth int) (mapping, error) {
	out := mapping{}
	for {
		t, err := dec.Token()
		if err != nil {
			return nil, err
		}
		if d, ok := t.(json.Delim); ok && d == '}' {
			return out, nil
		}
		key, ok := t.(string)
		if !ok {
			return nil, fmt.Errorf("object key %v is not a string", t)
		}
		v, err := jsonValue(dec, depth)
		if err != nil {
			return nil, err
		}
		out = append(out, entry{key: key, val: v})
	}
}

func jsonValue(dec *json.Decoder, depth int) (any, error) {
	if depth > maxJSONDepth {
		return nil, errors.New("nested too deep")
	}
	t, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch x := t.(type) {
	case json.Delim:
		if x == '{' {
			return jsonObject(dec, depth+1)
		}
		if x == '[' {
			return jsonArray(dec, depth+1)
		}
		return nil, fmt.Errorf("unexpected %v", x)
	case json.Number:
		if n, err := x.Int64(); err == nil {
			return &scalar{v: int(n)}, nil
		}
		f, err := x.Float64()
		if err != nil {
			return nil, fmt.Errorf("number %s: %w", x, err)
		}
		return &scalar{v: f}, nil
	}
	return &scalar{v: t}, nil // string, bool or nil
}

func jsonArray(dec *json.Decoder, depth int) (sequence, error) {
	out := sequence{}
	for dec.More() {
		v, err := jsonValue(dec, depth)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	if _, err := dec.Token(); err != nil { // the closing ]
		return nil, err
	}
	return out, nil
}

// emitJSON writes the plaintext document as sops does: in order, indented
// with tabs, one newline at the end.
func emitJSON(doc mapping) ([]byte, error) {
	var compact bytes.Buffer
	if err := writeJSON(&compact, doc); err != nil {
		return nil, err
	}
	var out bytes.Buffer
	if err := json.Indent(&out, compact.Bytes(), "", "\t"); err != nil {
		return nil, fmt.Errorf("write JSON: %w", err)
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}

func writeJSON(w *bytes.Buffer, v any) error {
	switch x := v.(type) {
	case mapping:
		w.WriteByte('{')
		for i, e := range x {
			if i > 0 {
				w.WriteByte(',')
			}
			k, _ := json.Marshal(e.key)
			w.Write(k)
			w.WriteString(": ")
			if err := writeJSON(w, e.val); err != nil {
				return err
			}
		}
		w.WriteByte('}')
	case sequence:
		w.WriteByte('[')
		for i, item := range x {
			if i > 0 {
				w.WriteByte(',')
			}
			if err := writeJSON(w, item); err != nil {
				return err
			}
		}
		w.WriteByte(']')
	case *scalar:
		v := x.v
		if c, ok := v.(comment); ok {
			v = string(c)
		}
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("write JSON: a value of type %T", v)
		}
		w.Write(b)
	}
	return nil
}

// emitBinary returns the bytes of a binary file: its "data" plaintext.
func emitBinary(doc mapping) ([]byte, error) {
	v, _ := doc.get("data")
	s, ok := v.(*scalar)
	if !ok {
		return nil, errors.New(`a binary sops file has no "data"`)
	}
	switch x := s.v.(type) {
	case string:
		return []byte(x), nil
	case []byte:
		return x, nil
	}
	return nil, errors.New(`the "data" of a binary sops file is not a string`)
}
